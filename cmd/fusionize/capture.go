package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/loop"
)

// capturedWindow is one measured window as written by --capture: the
// setup, when the window started (spans of requests whose entry started
// before it are the warm-up), every span of the setup version and what the
// platforms reported from Since on. fuser/optimize's fixtures are files of
// this shape.
type capturedWindow struct {
	App   string       `json:"app"`
	Setup *setup.Setup `json:"setup"`
	Since time.Time    `json:"since"`
	Spans []span.Span  `json:"spans"`
	Bills []cost.Bill  `json:"bills"`
	// ClientMs are the window's requests as the loop measures them: as
	// the client timed them (loop.Timer), less the emulators' stretch
	// (loop.PlatformLatencies), in ms. ClientWallMs are the same requests
	// as timed.
	ClientMs     []float64 `json:"clientMs,omitempty"`
	ClientWallMs []float64 `json:"clientWallMs,omitempty"`
	ClientTraces []string  `json:"clientTraces,omitempty"` // each request's trace, in the same order
}

// capture writes one window to dir as NNN-vVERSION.json, NNN counting the
// files already there, and returns the file's path. A window of the setup
// version the last file holds replaces it (pass that file as the
// capturer's last): the loop reads the platforms' reports after each
// warm-up round too, and only the window after them is measured.
func capture(ctx context.Context, dir, app string, s *setup.Setup, since time.Time, spans func(context.Context, int64) ([]span.Span, error), bills []cost.Bill, client []loop.Timed) (string, error) {
	all, err := spans(ctx, s.Version)
	if err != nil {
		return "", fmt.Errorf("capture: spans of setup version %d: %w", s.Version, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("capture: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return "", fmt.Errorf("capture: %w", err)
	}
	w := capturedWindow{App: app, Setup: s, Since: since, Spans: all, Bills: bills}
	for i, d := range loop.PlatformLatencies(client, all, bills) {
		w.ClientMs = append(w.ClientMs, float64(d)/1e6)
		w.ClientWallMs = append(w.ClientWallMs, float64(client[i].D)/1e6)
		w.ClientTraces = append(w.ClientTraces, client[i].Trace)
	}
	data, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("capture: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%03d-v%d.json", len(old), s.Version))
	if n := len(old); n > 0 && strings.HasSuffix(old[n-1], fmt.Sprintf("-v%d.json", s.Version)) {
		path = old[n-1] // sorted by their number: the last file written
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return "", fmt.Errorf("capture: %w", err)
	}
	return path, nil
}
