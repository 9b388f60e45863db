package optimize_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/internal/simulate"
	"github.com/fusionize/fusionize/fuser/optimize"
)

// observe deploys s in env and returns its iteration.
func observe(t testing.TB, env *simulate.Env, app optimize.App, s *setup.Setup, requests int) optimize.Observation {
	t.Helper()
	spans := env.Run(s, requests)
	rep := analytics.Analyze(spans, analytics.Options{Tasks: app.Tasks, Setups: []*setup.Setup{s}})
	p := cost.Default()
	sum, err := p.Summarize(spans, cost.PlacesOf(s))
	if err != nil {
		t.Fatal(err)
	}
	return optimize.Observe(s, rep, sum.PerMillion, "test")
}

func TestPredictTracksGroundTruth(t *testing.T) {
	g := simulate.IoT()
	env := simulate.New(g, truthProfile(), 5)
	env.ColdRate = 0
	app := appOf(g, manifest.Objective{})
	// Two deployments at different memory sizes teach the model each task's
	// CPU and I/O share.
	a := setup.Separate(1, g.TaskNames(), awsEast, 256)
	b := setup.Fused(2, "all", g.TaskNames(), awsEast, 1769)
	itA, itB := observe(t, env, app, a, 300), observe(t, env, app, b, 300)
	l, err := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true}).Learn(optimize.Input{App: app, Current: b, Report: itB.Report,
		History: []optimize.Observation{itA, itB}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	names := g.TaskNames()
	for i := 0; i < 40; i++ {
		block := make([]int, len(names))
		blocks := 1
		for k := 1; k < len(names); k++ {
			block[k] = rng.IntN(blocks + 1)
			blocks = max(blocks, block[k]+1)
		}
		s := simulate.SetupOf(int64(10+i), names, block, blocks, awsEast, optimize.DefaultMemories[rng.IntN(len(optimize.DefaultMemories))])
		for k := range s.Groups {
			s.Groups[k].MemoryMB = optimize.DefaultMemories[rng.IntN(len(optimize.DefaultMemories))]
		}
		wantLat, wantCost, err := env.Expected(s)
		if err != nil {
			t.Fatal(err)
		}
		gotLat, gotCost := l.Predict(s)
		if e := math.Abs(float64(gotLat-wantLat)) / float64(wantLat); e > 0.10 {
			t.Errorf("%s: latency %v, truth %v (%.0f%% off)", optimize.Key(s), gotLat, wantLat, 100*e)
		}
		if e := math.Abs(gotCost-wantCost) / wantCost; e > 0.15 {
			t.Errorf("%s: cost $%.3f/M, truth $%.3f/M (%.0f%% off)", optimize.Key(s), gotCost, wantCost, 100*e)
		}
	}
	if lat, c := l.Predict(&setup.Setup{}); lat != time.Duration(math.MaxInt64) || !math.IsInf(c, 1) {
		t.Errorf("Predict of an empty setup = %v, %v", lat, c)
	}
}

func TestModelRollsBackARegression(t *testing.T) {
	g := simulate.Tree()
	env := simulate.New(g, truthProfile(), 6)
	app := appOf(g, manifest.Objective{Latency: "p50", LatencyWeight: 1, CostWeight: 10})
	good := setup.Separate(1, g.TaskNames(), awsEast, 512)
	itGood := observe(t, env, app, good, 100)
	itGood.P50Ms, itGood.CostPerMillionUSD = 1, 0.1 // measured far better than anything the model can promise
	bad := setup.Fused(2, "all", g.TaskNames(), awsEast, 1769)
	itBad := observe(t, env, app, bad, 100)
	next, why, err := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true}).Propose(context.Background(),
		optimize.Input{App: app, Current: bad, Report: itBad.Report, History: []optimize.Observation{itGood, itBad}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(why.Change, "rollback") || next.Partition() != good.Partition() || next.Version != 3 {
		t.Fatalf("got %s (v%d): %s", next.Partition(), next.Version, why.Change)
	}
}

func TestModelPlacesAcrossClouds(t *testing.T) {
	g := simulate.IoT()
	env := simulate.New(g, truthProfile(), 8)
	app := appOf(g, manifest.Objective{Latency: "p50", LatencyBoundMs: 150})
	gcp := setup.Place{Provider: "gcp", Region: "us-east4"}
	res := runLoop(t, optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true, Places: []setup.Place{gcp, awsEast}}), app, env, 3, 200)
	if !res.converged {
		t.Fatal("did not converge within 3 deployments")
	}
	lat, c, err := env.Expected(res.final)
	if err != nil {
		t.Fatal(err)
	}
	awsOnly, _ := truthOptimum(t, env, app.Objective)
	t.Logf("final %s: %v, $%.2f/M (aws-only uniform optimum $%.2f/M)", optimize.Key(res.final), lat, c, awsOnly)
	if got := optimize.Score(app.Objective, lat, c); got > awsOnly*1.05 {
		t.Fatalf("two clouds score %.4g, worse than aws alone %.4g", got, awsOnly)
	}
}

func TestStrategiesRejectBadInput(t *testing.T) {
	app := optimize.App{Name: "x", Entry: "A", Tasks: []string{"A", "B"}}
	cur := setup.Separate(1, app.Tasks, awsEast, 128)
	for _, s := range []optimize.Strategy{optimize.NewPaper(), optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true})} {
		if _, _, err := s.Propose(context.Background(), optimize.Input{App: app, Current: cur}); !errors.Is(err, optimize.ErrNoData) {
			t.Errorf("%s without spans: err = %v, want ErrNoData", s.Name(), err)
		}
		bad := app
		bad.Entry = "Z"
		if _, _, err := s.Propose(context.Background(), optimize.Input{App: bad}); !errors.Is(err, optimize.ErrBadInput) {
			t.Errorf("%s with unknown entry: err = %v, want ErrBadInput", s.Name(), err)
		}
		wrong := setup.Separate(1, []string{"A"}, awsEast, 128)
		if _, _, err := s.Propose(context.Background(), optimize.Input{App: app, Current: wrong}); !errors.Is(err, optimize.ErrBadInput) {
			t.Errorf("%s with incomplete setup: err = %v, want ErrBadInput", s.Name(), err)
		}
	}
}

func TestScore(t *testing.T) {
	bound := manifest.Objective{LatencyBoundMs: 100}
	if a, b := optimize.Score(bound, 99*time.Millisecond, 50), optimize.Score(bound, 101*time.Millisecond, 1); a >= b {
		t.Errorf("a setup within the bound (%v) must beat one beyond it (%v)", a, b)
	}
	w := manifest.Objective{LatencyWeight: 2, CostWeight: 3}
	if got := optimize.Score(w, 10*time.Millisecond, 5); got != 35 {
		t.Errorf("weighted score = %v, want 35", got)
	}
}

func ExamplePaper() {
	p := optimize.NewPaper()
	app := optimize.App{Name: "tree", Entry: "A", Tasks: []string{"A", "B", "C"}}
	first, why, _ := p.Propose(context.Background(), optimize.Input{App: app})
	fmt.Println(first.Partition())
	fmt.Println(why.Change)
	// Output:
	// (A) (B) (C)
	// initial: every task in its own group at 128 MB, the smallest size that holds one task's host (30 MB + 27 MB per task, 20% margin)
}

func TestPaperMovesAsyncCalleesOut(t *testing.T) {
	g := simulate.Tree()
	env := simulate.New(g, truthProfile(), 4)
	app := appOf(g, manifest.Objective{})
	all := setup.Fused(1, "all", g.TaskNames(), awsEast, 512) // fits the seven tasks
	it := observe(t, env, app, all, 50)
	next, why, err := optimize.NewPaper().Propose(context.Background(),
		optimize.Input{App: app, Current: all, Report: it.Report, History: []optimize.Observation{it}})
	if err != nil {
		t.Fatal(err)
	}
	if got := next.Partition(); got != "(A,B,D,E,F,G) (C)" || !strings.HasPrefix(why.Change, "split: C") {
		t.Fatalf("got %s: %s", got, why.Change)
	}
}

func TestPaperGivesEveryGroupMemoryThatFits(t *testing.T) {
	g := simulate.Tree()
	env := simulate.New(g, truthProfile(), 4)
	app := appOf(g, manifest.Objective{})
	p := optimize.NewPaper()
	first, _, err := p.Propose(context.Background(), optimize.Input{App: app})
	if err != nil {
		t.Fatal(err)
	}
	// The platform reports a heavy host: 120 MB for one task alone.
	it := observe(t, env, app, first, 50)
	reportPeaks(&it, 30, nil, 90)
	next, why, err := p.Propose(context.Background(), optimize.Input{App: app, Current: first, Report: it.Report, History: []optimize.Observation{it}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(why.Change, "memory: (") || strings.Count(why.Change, "128 MB → 256 MB") != len(first.Groups) {
		t.Fatalf("after a measured peak of 120 MB at 128 MB: %s; want every group grown to 256 MB at once", why.Change)
	}
	for range 4 { // the paper's grouping steps, each group at a size that fits
		it := observe(t, env, app, next, 50)
		reportPeaks(&it, 30, nil, 90)
		cur := next
		next, why, err = p.Propose(context.Background(), optimize.Input{App: app, Current: cur, Report: it.Report, History: []optimize.Observation{it}})
		if err != nil {
			t.Fatal(err)
		}
		for _, gr := range next.Groups {
			if need := (30 + 90*float64(len(gr.Tasks))) * (1 + optimize.MemoryMargin); float64(gr.MemoryMB) < need {
				t.Fatalf("%s: group %v at %d MB, needs %.0f MB", why.Change, gr.Tasks, gr.MemoryMB, need)
			}
		}
	}
}
