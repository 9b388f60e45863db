//go:build emulated

// The convergence test: the model strategy against the measured ground
// truth of `fusionize sweep`, on the emulated clouds.
//
// Run it with `make converge`, or
//
//	go test -tags emulated -run TestModelConvergesToSweepBest -timeout 90m -v ./cmd/fusionize
//
// It needs what `make demo` needs (Go, and for tree wabt and the
// AssemblyScript compiler: `make setup`) and nothing else: the Lambda
// emulator runs in the test process and deploys through the aws adapter
// with the real SDK client. FUSIONIZE_CONVERGE_APPS (a comma-separated list
// of app folders under examples/) narrows the apps; the default is all five.
// FUSIONIZE_CONVERGE_CAPTURE=DIR writes every measured window (sweep and
// loop) under DIR/<app>, as `fusionize sweep --capture` does.
package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/loop"
	"github.com/fusionize/fusionize/fuser/optimize"
	"github.com/fusionize/fusionize/fuser/sweep"
)

// The bars of the test, from the fuser's issue: the model strategy's final
// setup within 5% of the best setup sweep measured, reached within 4
// deployments after the starting setup, and predicted within 20% on
// latency and cost.
const (
	convergeScoreTolerance = 0.05
	convergeMaxDeployments = 4
	convergePredictionBar  = 0.20
)

// convergeCase is one app of the test and the shape of its sweep.
type convergeCase struct {
	app string
	// max is the sweep's budget of measured setups.
	max int
	// extra are setups the sweep's candidates (one memory size a setup)
	// cannot be; each group is "task,task@MB".
	extra [][]string
}

var convergeCases = []convergeCase{
	{app: "iot", max: 8},
	{app: "tree", max: 8},
	{app: "webshop", max: 6},
	{app: "hotspot", max: 9, extra: [][]string{
		{"api,auth,catalog,format@256", "score@1024"},
		{"api,auth,catalog,format@256", "score@512"},
	}},
	{app: "slowbranch", max: 9, extra: [][]string{
		{"order,quote,stock@256", "audit@256", "archive@256"},
		{"order,quote,stock@256", "archive,audit@256"},
	}},
}

// The shared shape of every measurement: the place, the memory sizes and
// the window. One place (emulated Lambda) keeps the run within CI's time:
// a Cloud Function deploy builds its source.
var (
	convergePlace    = setup.Place{Provider: "aws", Region: "us-east-1"}
	convergeMemories = []int{256, 512, 1024}
)

// convergeRequests is near the tool's default window (optimize.DefaultWindow
// is 120 requests; 96 keeps a run of one app within minutes): with a window
// of 24, one cold start's init decided a setup's p95 and its cost.
const (
	convergeRequests    = 96
	convergeConcurrency = 4
)

// TestModelConvergesToSweepBest runs, for each app on the same emulated
// Lambda: a bounded sweep (every task alone, all fused, the extra setups, a
// seeded sample, the model's picks) for the measured best under the app's
// objective; then the feedback loop with the model strategy from the
// app's starting setup. The loop's final setup must score within 5% of the
// sweep's best (cost under the latency bound, as optimize.Score defines
// it), after at most 4 deployments past the start, and the model's
// prediction for it must be within 20% of what was measured on latency (the
// objective's percentile) and cost. Every figure is printed as a table,
// pass or fail.
func TestModelConvergesToSweepBest(t *testing.T) {
	cases := convergeCases
	if only := os.Getenv("FUSIONIZE_CONVERGE_APPS"); only != "" {
		cases = nil
		for _, name := range strings.Split(only, ",") {
			found := false
			for _, c := range convergeCases {
				if c.app == strings.TrimSpace(name) {
					cases, found = append(cases, c), true
				}
			}
			if !found {
				t.Fatalf("FUSIONIZE_CONVERGE_APPS names %q: not an app of the test (iot, tree, webshop, hotspot, slowbranch)", name)
			}
		}
	}
	g.dataDir = t.TempDir()
	start := time.Now()
	for _, c := range cases {
		t.Run(c.app, func(t *testing.T) { convergeOne(t, c) })
	}
	t.Logf("all %d apps in %s", len(cases), time.Since(start).Round(time.Second))
}

func convergeOne(t *testing.T, c convergeCase) {
	dir := filepath.Join("..", "..", "examples", c.app)
	requireBuildTools(t, dir)
	app, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	extra, err := parseExtra(app, c.extra)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetContext(ctx)
	cmd.SetOut(&out)
	began := time.Now()
	ea, err := startEmulatedApp(cmd, app, "converge-"+app.Name, "")
	if err != nil {
		t.Fatalf("start the emulated app: %v\n%s", err, out.String())
	}
	defer ea.close()
	env := &billingEnv{ClientEnv: &loop.ClientEnv{CP: ea.cli, Invoker: ea.inv, Task: app.Entry, Input: []byte(app.Input),
		Concurrency: convergeConcurrency, Wait: ea.dep.Wait}, app: app.Name, clouds: ea.clouds}
	if dir := os.Getenv("FUSIONIZE_CONVERGE_CAPTURE"); dir != "" {
		env.captureDir = filepath.Join(dir, app.Name)
	}

	// The ground truth.
	places := []setup.Place{convergePlace}
	res, err := sweep.Run(ea.ctx, env, sweep.Options{
		App: app, Places: places, MemoriesMB: convergeMemories, Max: c.max, Seed: 1, Extra: extra,
		Requests: convergeRequests, Warmup: 3 * convergeConcurrency,
		Progress: func(e sweep.Event) {
			if p := e.Point; p != nil && p.Usable() {
				t.Logf("sweep [%d/%d] %s: p50 %.1f ms, p95 %.1f ms, $%.2f/M", e.N, e.Of, describeSetup(p.Setup), p.P50Ms, p.P95Ms, p.CostPerMillion)
			} else if p != nil {
				t.Logf("sweep [%d/%d] %s: not comparable: %s", e.N, e.Of, describeSetup(p.Setup), p.WhyNot())
			}
		},
	})
	var table bytes.Buffer
	if len(res.Points) > 0 {
		printSweep(&table, app, res)
	}
	t.Logf("sweep of %s (%s, emulated AWS Lambda us-east-1) in %s:\n%s", app.Name, objective(app.Objective), time.Since(began).Round(time.Second), table.String())
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if res.Best < 0 {
		t.Fatal("the sweep measured no usable setup")
	}
	for _, want := range []string{"every task alone", "all fused"} {
		if !hasSource(res, want) {
			t.Errorf("the sweep measured no %q setup", want)
		}
	}
	if len(extra) > 0 && !hasSource(res, "extra") {
		t.Errorf("the sweep measured none of the %d extra setups", len(extra))
	}
	best := res.Points[res.Best]

	// The model strategy from the app's starting setup.
	loopStart := time.Now()
	strat := optimize.NewModel(optimize.ModelConfig{Places: places, InitialMemoryMB: 512,
		Memories: map[string][]int{convergePlace.Provider: convergeMemories}, Seed: 1})
	initial, _, err := strat.Propose(ea.ctx, optimize.Input{App: optimize.AppOf(app)})
	if err != nil {
		t.Fatal(err)
	}
	lr, err := loop.Run(ea.ctx, env, initial, loop.Options{
		App: app, Strategy: strat, Requests: convergeRequests, MaxIterations: convergeMaxDeployments,
		Budget: convergeMaxDeployments + 1, // the start and 4 more, a rollback among them
		Warmup: 3 * convergeConcurrency,
		Progress: func(e loop.Event) {
			if it := e.Iteration; e.Kind == loop.EventObserved && it != nil {
				pred, errs := predictionColumns(it)
				t.Logf("loop #%d %s: p50 %.1f ms, p95 %.1f ms, $%.2f/M, %s; predicted %s, error %s", it.Index, describeSetup(it.Setup), it.P50Ms, it.P95Ms, it.CostPerMillionUSD, it.Decision, pred, errs)
			}
		},
	})
	var its bytes.Buffer
	printIterations(&its, lr.Iterations)
	t.Logf("model strategy on %s in %s, %d deployments (the start included): %s\n%s", app.Name,
		time.Since(loopStart).Round(time.Second), lr.Deployments, lr.Verdict, its.String())
	if err != nil {
		t.Fatalf("loop: %v", err)
	}
	final := lastMeasured(lr.Iterations, lr.Best)
	if final == nil {
		t.Fatal("the loop's final setup was never measured")
	}

	// The verdict, as one table.
	pct := app.Objective.Latency
	finalLat := final.P50Ms
	if pct == "p95" {
		finalLat = final.P95Ms
	}
	finalScore := optimize.Score(app.Objective, time.Duration(finalLat*float64(time.Millisecond)), final.CostPerMillionUSD)
	scoreGap := (finalScore - best.Score) / best.Score
	v := verdictTable{}
	v.row("sweep best", describeSetup(best.Setup), best.Latency(pct), best.CostPerMillion, best.Score, "")
	// The same setup as the sweep's best meets the bar whatever its two
	// windows measured: the gap between them is the measurement's noise,
	// not the model's choice.
	sameAsBest := optimize.Key(final.Setup) == optimize.Key(best.Setup)
	note := fmt.Sprintf("%+.1f%% vs sweep best (bar +%.0f%%)", scoreGap*100, convergeScoreTolerance*100)
	overBound := app.Objective.LatencyBoundMs > 0 && finalLat > app.Objective.LatencyBoundMs
	switch {
	case sameAsBest:
		note = fmt.Sprintf("the sweep's best setup; its two windows measured %+.1f%% apart", scoreGap*100)
	case overBound:
		note = fmt.Sprintf("%s %.1f ms, over the bound of %.0f ms", pct, finalLat, app.Objective.LatencyBoundMs)
	}
	v.row("model final", describeSetup(final.Setup), finalLat, final.CostPerMillionUSD, finalScore, note)
	latErr, costErr := math.NaN(), math.NaN()
	if p := final.Predicted; p != nil {
		predLat := p.P50Ms
		if pct == "p95" {
			predLat = p.P95Ms
		}
		if e, ok := api.ErrorPct(predLat, finalLat); ok {
			latErr = e / 100
		}
		if e, ok := api.ErrorPct(p.CostPerMillionUSD, final.CostPerMillionUSD); ok {
			costErr = e / 100
		}
		v.row("model predicted", "(the same)", predLat, p.CostPerMillionUSD, optimize.Score(app.Objective, time.Duration(predLat*float64(time.Millisecond)), p.CostPerMillionUSD),
			fmt.Sprintf("error %s %+.0f%%, cost %+.0f%% (bar ±%.0f%%)", pct, latErr*100, costErr*100, convergePredictionBar*100))
	} else {
		v.row("model predicted", "-", math.NaN(), math.NaN(), math.NaN(), "no prediction recorded for the final setup (the starting setup, or a rollback to it)")
	}
	t.Logf("%s, objective %s, %s latency; emulated AWS Lambda us-east-1; %s in all:\n%s", app.Name, objective(app.Objective), pct,
		time.Since(began).Round(time.Second), v.String())

	if after := lr.Deployments - 1; after > convergeMaxDeployments {
		t.Errorf("%d deployments after the starting setup, want at most %d", after, convergeMaxDeployments)
	}
	if !sameAsBest && scoreGap > convergeScoreTolerance {
		if overBound {
			t.Errorf("the model's final setup %s measured %s %.1f ms, over the bound of %.0f ms; the sweep's best %s measured %.1f ms at $%.2f/M",
				describeSetup(final.Setup), pct, finalLat, app.Objective.LatencyBoundMs, describeSetup(best.Setup), best.Latency(pct), best.CostPerMillion)
		} else {
			t.Errorf("the model's final setup %s scores %.2f, %.1f%% above the sweep's best %s at %.2f (want within %.0f%%)",
				describeSetup(final.Setup), finalScore, scoreGap*100, describeSetup(best.Setup), best.Score, convergeScoreTolerance*100)
		}
	}
	if final.Predicted == nil {
		t.Errorf("no prediction at the final setup %s to check against the measurement", describeSetup(final.Setup))
		return
	}
	if !(math.Abs(latErr) <= convergePredictionBar) {
		t.Errorf("prediction error at the final setup: %s %+.0f%%, outside ±%.0f%%", pct, latErr*100, convergePredictionBar*100)
	}
	if !(math.Abs(costErr) <= convergePredictionBar) {
		t.Errorf("prediction error at the final setup: cost %+.0f%%, outside ±%.0f%%", costErr*100, convergePredictionBar*100)
	}
}

func hasSource(res sweep.Result, source string) bool {
	for _, p := range res.Points {
		if p.Source == source {
			return true
		}
	}
	return false
}

// parseExtra makes setups on convergePlace from groups written
// "task,task@MB"; every task of app must be in exactly one group.
func parseExtra(app *manifest.App, extra [][]string) ([]*setup.Setup, error) {
	var out []*setup.Setup
	for _, groups := range extra {
		s := &setup.Setup{}
		seen := map[string]bool{}
		for _, gr := range groups {
			tasks, mem, ok := strings.Cut(gr, "@")
			var mb int
			if _, err := fmt.Sscanf(mem, "%d", &mb); !ok || err != nil || mb <= 0 {
				return nil, fmt.Errorf("extra setup %v: group %q: want task,task@MB", groups, gr)
			}
			g := setup.Group{MemoryMB: mb, Place: convergePlace}
			for _, tk := range strings.Split(tasks, ",") {
				if _, ok := app.Task(tk); !ok || seen[tk] {
					return nil, fmt.Errorf("extra setup %v: task %q is not a task of %s or is in two groups", groups, tk, app.Name)
				}
				seen[tk] = true
				g.Tasks = append(g.Tasks, tk)
			}
			s.Groups = append(s.Groups, g)
		}
		if len(seen) != len(app.Tasks) {
			return nil, fmt.Errorf("extra setup %v: %d of %s's %d tasks placed", groups, len(seen), app.Name, len(app.Tasks))
		}
		s.Normalize(true)
		if err := s.Validate(app.TaskNames()); err != nil {
			return nil, fmt.Errorf("extra setup %v: %w", groups, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// verdictTable is the test's summary, one row per setup.
type verdictTable struct{ b bytes.Buffer }

func (v *verdictTable) row(what, s string, latMs, perM, score float64, note string) {
	if v.b.Len() == 0 {
		fmt.Fprintln(&v.b, "WHAT\tSETUP\tLATENCY ms\t$/M REQ\tSCORE\t")
	}
	f := func(x float64) string {
		if math.IsNaN(x) {
			return "-"
		}
		return fmt.Sprintf("%.2f", x)
	}
	sc := f(score)
	if score >= 1e6 { // optimize.Score's penalty: over the latency bound
		sc = "over the bound"
	}
	fmt.Fprintf(&v.b, "%s\t%s\t%s\t%s\t%s\t%s\n", what, s, f(latMs), f(perM), sc, note)
}

func (v *verdictTable) String() string {
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
	_, _ = tw.Write(v.b.Bytes())
	_ = tw.Flush()
	return out.String()
}
