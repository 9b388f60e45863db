package loop_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/loop"
)

// TestWatchRePlansWhenThePricesFileChanges: a watch on a steady setup
// re-plans as soon as the prices file changes, with the change as the
// reason, within its budget, and a broken file in between is reported
// without a re-plan.
func TestWatchRePlansWhenThePricesFileChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for spans to settle")
	}
	path := filepath.Join(t.TempDir(), "prices.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"local":{"perGBSecond":0.00001}}`)
	pf, err := loop.LoadPrices(path)
	if err != nil {
		t.Fatal(err)
	}
	env := &fakeEnv{spans: map[int64][]span.Span{}, latency: func(v int64, i int) time.Duration {
		return 10*time.Millisecond + time.Duration(i%7)*time.Millisecond
	}}
	app := &manifest.App{Name: "t", Entry: "A", Tasks: []manifest.Task{{Name: "A"}}, Objective: manifest.Objective{Latency: "p50", LatencyWeight: 1}}
	serving := setup.Separate(1, []string{"A"}, setup.Place{Provider: "local"}, 128)
	env.version = 1
	var notes []string
	windows := 0
	progress := func(e loop.Event) {
		if e.Kind != loop.EventWatched {
			return
		}
		notes = append(notes, e.Note)
		windows++
		switch windows {
		case 1:
			write(`{"local":{"perGBSecond":`) // half-written
		case 3:
			write(`{"local":{"perGBSecond":0.00005}}`)
		}
	}
	res, err := loop.Watch(context.Background(), env, serving, loop.Options{
		App: app, Strategy: &oneChange{}, Requests: 40, Warmup: -1, Settle: time.Millisecond, Progress: progress,
	}, loop.WatchOptions{Prices: pf, Replacements: 1, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replacements) != 1 {
		t.Fatalf("%d re-placements, want 1; notes %q", len(res.Replacements), notes)
	}
	r := res.Replacements[0]
	if r.Reason != "prices changed: local.perGBSecond 0.00001 → 0.00005 (×5)" {
		t.Errorf("reason %q", r.Reason)
	}
	if r.Deployments != 1 || !r.Moved() || r.To.Groups[0].MemoryMB != 256 {
		t.Errorf("re-placement %+v: want the strategy's one change deployed once", r)
	}
	if len(r.Iterations) == 0 || !strings.HasPrefix(r.Iterations[0].Note, r.Reason) {
		t.Errorf("the first iteration's note %q does not start with the reason", r.Iterations[0].Note)
	}
	if !strings.Contains(strings.Join(notes, "\n"), path+": cost: parse prices") {
		t.Errorf("the broken file was not reported by name: %q", notes)
	}
	if got := pf.Prices().Local.PerGBSecond; got != 0.00005 {
		t.Errorf("prices after the change: %v", got)
	}
}
