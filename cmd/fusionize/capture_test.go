package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/loop"
)

// TestCaptureWritesEachWindowToItsOwnFile: --capture writes one JSON file
// per measured window, numbered in order, that reads back as written; a
// failure to read the spans is an error naming the setup version.
func TestCaptureWritesEachWindowToItsOwnFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "windows")
	place := setup.Place{Provider: "aws", Region: "us-east-1"}
	since := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	for v := int64(1); v <= 2; v++ {
		s := setup.Separate(v, []string{"A", "B"}, place, 512)
		spans := func(_ context.Context, got int64) ([]span.Span, error) {
			return []span.Span{{TraceID: "t", ID: 1, Task: "A", Group: "A", SetupVersion: got, Start: since, Duration: time.Millisecond}}, nil
		}
		bills := []cost.Bill{{Group: "A", Place: place, Time: since, Duration: time.Millisecond, Billed: time.Millisecond, MemoryMB: 512, Trace: "t", Stretch: time.Millisecond}}
		for range 2 { // the loop reads the reports after a warm-up round, then for the window
			if _, err := capture(context.Background(), dir, "app", s, since, spans, bills, []loop.Timed{{Trace: "t", D: 3 * time.Millisecond}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(files) != 2 {
		t.Fatalf("%d files for two setup versions, want one each: %v", len(files), files)
	}
	for i, name := range []string{"000-v1.json", "001-v2.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var w capturedWindow
		if err := json.Unmarshal(data, &w); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w.App != "app" || w.Setup.Version != int64(i+1) || !w.Since.Equal(since) || len(w.Spans) != 1 || w.Spans[0].SetupVersion != int64(i+1) || len(w.Bills) != 1 || len(w.ClientMs) != 1 || w.ClientMs[0] != 2 || w.ClientWallMs[0] != 3 {
			t.Errorf("%s reads back as %+v", name, w)
		}
	}
	broken := func(context.Context, int64) ([]span.Span, error) { return nil, errors.New("store closed") }
	_, err := capture(context.Background(), dir, "app", setup.Separate(3, []string{"A"}, place, 512), since, broken, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "setup version 3") {
		t.Fatalf("capture with unreadable spans: %v, want an error naming setup version 3", err)
	}
}
