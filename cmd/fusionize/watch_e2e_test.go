//go:build emulated

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/loop"
	"github.com/fusionize/fusionize/fuser/optimize"
)

// The watch tests place the chatty app (front calls back three times in a
// row) across the emulated clouds, let loop.Watch take a reference window,
// then change the world under it, as a user (prices) or the network (the
// round trip) would, while a load driver keeps sending requests through
// every switch.

var (
	awsPlace = setup.Place{Provider: "aws", Region: "us-east-1"}
	gcpPlace = setup.Place{Provider: "gcp", Region: "us-east4"}
)

// watchWorld is the chatty app up on the emulated clouds with a setup
// serving and a load driver running.
type watchWorld struct {
	app     *manifest.App
	ea      *emulatedApp
	env     *billingEnv
	serving *setup.Setup
	// The load driver's requests and failures since counting started
	// (the reference window: cold starts of the first deployment on a
	// loaded machine are not the watch's).
	counting     atomic.Bool
	sent, failed atomic.Int64
	stopLoad     func()
}

func startWatchWorld(t *testing.T, rttFile string, initial *setup.Setup) *watchWorld {
	t.Helper()
	dir := filepath.Join("testdata", "chatty")
	requireBuildTools(t, dir)
	app, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	g.dataDir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	t.Cleanup(cancel)
	cmd := &cobra.Command{}
	cmd.SetContext(ctx)
	cmd.SetOut(testWriter{t})
	ea, err := startEmulatedApp(cmd, app, "watch", rttFile)
	if err != nil {
		t.Fatal(err)
	}
	w := &watchWorld{app: app, ea: ea, stopLoad: func() {}}
	t.Cleanup(func() { w.stopLoad(); ea.close() })
	w.env = &billingEnv{ClientEnv: &loop.ClientEnv{CP: ea.cli, Invoker: ea.inv, Task: app.Entry, Input: []byte(app.Input), Concurrency: 4, Wait: ea.dep.Wait},
		app: app.Name, clouds: ea.clouds}
	v, err := w.env.Apply(ea.ctx, initial)
	if err != nil {
		t.Fatal(err)
	}
	w.serving = initial.Clone()
	w.serving.Version = v
	// The load driver: one request at a time, through every switch.
	lctx, stop := context.WithCancel(ea.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for lctx.Err() == nil {
			rctx, cancel := context.WithTimeout(lctx, 30*time.Second)
			_, err := ea.inv.Invoke(rctx, app.Entry, []byte(app.Input))
			cancel()
			if lctx.Err() != nil {
				return // cut short by the end of the test, not a failure
			}
			if !w.counting.Load() {
				continue
			}
			w.sent.Add(1)
			if err != nil {
				w.failed.Add(1)
				t.Logf("load driver: %v", err)
			}
		}
	}()
	w.stopLoad = func() { stop(); wg.Wait() }
	return w
}

// watch runs loop.Watch until its first re-placement; change is called once,
// after the reference window.
func (w *watchWorld) watch(t *testing.T, prices *loop.PricesFile, change func()) loop.WatchResult {
	t.Helper()
	var once sync.Once
	progress := func(e loop.Event) {
		switch e.Kind {
		case loop.EventWatched, loop.EventReplanning, loop.EventDeploying, loop.EventConverged:
			t.Logf("%s %v %s %s", time.Now().Format("15:04:05.0"), e.Kind, describeSetup(e.Setup), e.Note)
		case loop.EventObserved:
			t.Logf("%s #%d %s p50 %.1f ms p95 %.1f ms $%.2f/M %s", time.Now().Format("15:04:05.0"), e.Iteration.Index, e.Iteration.Decision, e.Iteration.P50Ms, e.Iteration.P95Ms, e.Iteration.CostPerMillionUSD, e.Iteration.Note)
		}
		if e.Kind == loop.EventWatched && strings.HasPrefix(e.Note, "reference window") {
			once.Do(func() { w.counting.Store(true); change() })
		}
	}
	strat := optimize.NewModel(optimize.ModelConfig{Places: demoPlaces, InitialMemoryMB: 512, Seed: 1})
	opts := loop.Options{App: w.app, Strategy: strat, Requests: 32, Warmup: 16, Progress: progress} // warm-up: every environment the window and the load driver need
	if prices != nil {
		p := prices.Prices()
		opts.Prices = &p
		strat = optimize.NewModel(optimize.ModelConfig{Places: demoPlaces, InitialMemoryMB: 512, Seed: 1, Prices: &p})
		opts.Strategy = strat
	}
	res, err := loop.Watch(w.ea.ctx, w.env, w.serving, opts, loop.WatchOptions{Duration: 7 * time.Minute, Replacements: 1, Prices: prices})
	w.stopLoad()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("watch: %d windows, %d of %d requests failed; load driver: %d of %d failed", res.Windows, res.Failed, res.Requests, w.failed.Load(), w.sent.Load())
	if len(res.Replacements) != 1 {
		t.Fatalf("%d re-placements within 7 minutes, want 1", len(res.Replacements))
	}
	r := res.Replacements[0]
	t.Logf("re-placement: %s: %s → %s in %d deployments (%s); learned %v", r.Reason, describeSetup(r.From), describeSetup(r.To), r.Deployments, r.Verdict, r.Notes)
	if r.Deployments < 1 || r.Deployments > 2 {
		t.Errorf("re-placed in %d deployments, want 1 or 2", r.Deployments)
	}
	if r.Failed != 0 || w.failed.Load() != 0 {
		t.Errorf("failed requests: %d of %d in the re-placement's windows, %d of %d from the load driver; want none", r.Failed, r.Requests, w.failed.Load(), w.sent.Load())
	}
	if w.sent.Load() == 0 || r.Requests == 0 {
		t.Fatal("no request was sent through the switches: the failure count could not fail")
	}
	return res
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(time.Now().Format("15:04:05.0 "), strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func placeOfTask(s *setup.Setup, task string) setup.Place {
	gr, _ := s.GroupOf(task)
	if gr == nil {
		return setup.Place{}
	}
	return gr.Place
}

// TestWatchReplacesWhenTheRoundTripGrows: front on emulated Lambda and
// back on emulated Cloud Functions, 1 ms apart; the --rtt file is edited to
// 150 ms. The measured overhead of front→back drifts, the model learns the
// new round trip from the spans, and the loop co-locates the two within 2
// deployments, with no failed request.
func TestWatchReplacesWhenTheRoundTripGrows(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the chatty app, runs it on the Lambda and Cloud Functions emulators")
	}
	rttFile := filepath.Join(t.TempDir(), "rtt.json")
	writeFile(t, rttFile, `{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":1}]}`)
	initial := &setup.Setup{Groups: []setup.Group{
		{Name: "g-front", Tasks: []string{"front"}, MemoryMB: 512, Place: awsPlace},
		{Name: "g-back", Tasks: []string{"back"}, MemoryMB: 512, Place: gcpPlace},
	}}
	w := startWatchWorld(t, rttFile, initial)
	res := w.watch(t, nil, func() {
		writeFile(t, rttFile, `{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":150}]}`)
		time.Sleep(2500 * time.Millisecond) // netem.Follow applies it within a second
	})
	r := res.Replacements[0]
	if !strings.HasPrefix(r.Reason, "drift: ") || !strings.Contains(r.Reason, "front→back aws→gcp") {
		t.Errorf("reason %q: want a drift on the edge front→back aws→gcp", r.Reason)
	}
	if !strings.Contains(strings.Join(r.Notes, "; "), "round trip aws/us-east-1 ↔ gcp/us-east4 learned") {
		t.Errorf("the model did not learn the round trip from the spans: %v", r.Notes)
	}
	if a, b := placeOfTask(r.To, "front"), placeOfTask(r.To, "back"); a != b {
		t.Errorf("front at %s and back at %s after the re-placement: want them in one place", a, b)
	}
}

// TestWatchReplacesWhenPricesChange: both tasks fused on emulated Cloud
// Functions, priced below Lambda at every memory size by the --prices file
// (a tenth of the list prices, a quarter of the request fee); the file then
// makes every Cloud Functions price ×10 (the list prices, and a request fee
// above Lambda's). The loop re-ranks at once and moves the app to Lambda
// within 2 deployments, with no failed request.
func TestWatchReplacesWhenPricesChange(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the chatty app, runs it on the Lambda and Cloud Functions emulators")
	}
	pricesFile := filepath.Join(t.TempDir(), "prices.json")
	writeFile(t, pricesFile, `{"gcp":{"perVCPUSecond":0.0000024,"perGiBSecond":0.00000025,"perMillionRequests":0.05}}`)
	prices, err := loop.LoadPrices(pricesFile)
	if err != nil {
		t.Fatal(err)
	}
	initial := setup.Fused(0, "g-all", []string{"front", "back"}, gcpPlace, 512)
	w := startWatchWorld(t, "", initial)
	w.app.Objective = manifest.Objective{Latency: "p50", LatencyWeight: 0.001, CostWeight: 1} // cost decides
	res := w.watch(t, prices, func() {
		writeFile(t, pricesFile, `{"gcp":{"perVCPUSecond":0.000024,"perGiBSecond":0.0000025,"perMillionRequests":0.5}}`)
	})
	r := res.Replacements[0]
	if !strings.HasPrefix(r.Reason, "prices changed: ") || !strings.Contains(r.Reason, "gcp.perGiBSecond") {
		t.Errorf("reason %q: want the prices change", r.Reason)
	}
	for _, gr := range r.To.Groups {
		if gr.Place.Provider != "aws" {
			t.Errorf("group %v still on %s after GCP's prices went ×10", gr.Tasks, gr.Place)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
