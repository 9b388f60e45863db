package optimize_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/internal/simulate"
	"github.com/fusionize/fusionize/fuser/optimize"
	"github.com/fusionize/fusionize/fuser/profile"
)

var awsEast = setup.Place{Provider: "aws", Region: "us-east-1"}

func appOf(g simulate.Graph, obj manifest.Objective) optimize.App {
	if obj.Latency == "" {
		obj.Latency = "p50"
	}
	return optimize.App{Name: g.Name, Entry: g.Entry, Tasks: g.TaskNames(), Objective: obj}
}

// truthProfile differs from the default the model starts from, so the
// model has to learn the invoke overhead from spans.
func truthProfile() *profile.Profile {
	p := profile.Default()
	for i := range p.Platforms {
		if p.Platforms[i].Provider == "aws" {
			p.Platforms[i].InvokeOverheadMs = 18
		}
	}
	return p
}

type loopResult struct {
	history     []optimize.Observation
	deployments int
	converged   bool
	final       *setup.Setup
}

// runLoop runs propose → deploy (simulate) → observe until the strategy
// converges or more than max deployments were made.
func runLoop(t testing.TB, strat optimize.Strategy, app optimize.App, env *simulate.Env, max, requests int) loopResult {
	t.Helper()
	ctx := context.Background()
	prices := cost.Default()
	in := optimize.Input{App: app}
	var res loopResult
	for {
		next, why, err := strat.Propose(ctx, in)
		if err != nil {
			t.Fatalf("%s: propose after %d deployments: %v", strat.Name(), res.deployments, err)
		}
		if why.Converged {
			res.converged, res.final = true, in.Current
			return res
		}
		if err := next.Validate(app.Tasks); err != nil {
			t.Fatalf("%s proposed an invalid setup: %v", strat.Name(), err)
		}
		if res.deployments == max {
			res.final = in.Current
			return res
		}
		res.deployments++
		spans := env.Run(next, requests)
		rep := analytics.Analyze(spans, analytics.Options{Tasks: app.Tasks, Setups: []*setup.Setup{next}})
		sum, err := prices.Summarize(spans, cost.PlacesOf(next))
		if err != nil {
			t.Fatal(err)
		}
		it := optimize.Observe(next, rep, sum.PerMillion, why.Change)
		t.Logf("%s #%d %s\n\t→ %s  p50 %v  $%.2f/M", strat.Name(), res.deployments, why.Change, next.Partition(), it.P50().Round(time.Millisecond/10), it.CostPerMillionUSD)
		in.Current, in.Report = next, rep
		in.History = append(in.History, it)
		res.history = in.History
	}
}

func TestPaperReachesThePapersGroupings(t *testing.T) {
	for _, tc := range []struct {
		graph simulate.Graph
		want  string
	}{
		{simulate.IoT(), "(AS) (CA,DJ) (CS,CSA,CSL) (CT) (CW,I,SE)"},
		{simulate.Tree(), "(A,B,D,E) (C) (F) (G)"},
	} {
		t.Run(tc.graph.Name, func(t *testing.T) {
			env := simulate.New(tc.graph, truthProfile(), 1)
			res := runLoop(t, optimize.NewPaper(), appOf(tc.graph, manifest.Objective{}), env, 40, 300)
			if !res.converged {
				t.Fatalf("not converged after %d deployments", res.deployments)
			}
			if got := res.final.Partition(); got != tc.want {
				t.Fatalf("final grouping %s, want %s", got, tc.want)
			}
			t.Logf("paper strategy on %s: converged after %d deployments", tc.graph.Name, res.deployments)
		})
	}
}

// truthOptimum searches the ground truth exhaustively: every set partition
// whose groups are connected in the call graph (the others behave exactly
// like their connected split), every memory size for all groups alike,
// among the setups whose groups fit their memory on a platform that limits
// it (the simulator reports no memory, so the model's priors apply:
// DefaultHostBaseMB + DefaultTaskFootprintMB per task, MemoryMargin).
func truthOptimum(t testing.TB, env *simulate.Env, obj manifest.Objective) (float64, string) {
	names := env.Graph.TaskNames()
	best, bestKey := math.Inf(1), ""
	simulate.Partitions(len(names), func(block []int, blocks int) {
		if !env.Graph.Connected(block, blocks) {
			return
		}
		for _, mem := range optimize.DefaultMemories {
			s := simulate.SetupOf(1, names, block, blocks, awsEast, mem)
			if !fitsPriors(s) {
				continue
			}
			lat, c, err := env.Expected(s)
			if err != nil {
				t.Fatal(err)
			}
			if sc := optimize.Score(obj, lat, c); sc < best {
				best, bestKey = sc, optimize.Key(s)
			}
		}
	})
	return best, bestKey
}

func TestModelConvergesNearTheOptimum(t *testing.T) {
	objectives := []struct {
		name string
		obj  manifest.Objective
	}{
		{"weighted", manifest.Objective{Latency: "p50", LatencyWeight: 1, CostWeight: 10}},
		{"bound", manifest.Objective{Latency: "p50", LatencyBoundMs: 150}},
	}
	for _, g := range []simulate.Graph{simulate.IoT(), simulate.Tree(), simulate.Webshop()} {
		for _, o := range objectives {
			t.Run(g.Name+"/"+o.name, func(t *testing.T) {
				env := simulate.New(g, truthProfile(), 2)
				app := appOf(g, o.obj)
				res := runLoop(t, optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true, Places: []setup.Place{awsEast}}), app, env, 3, 200)
				if !res.converged {
					t.Fatalf("model did not converge within 3 deployments")
				}
				lat, c, err := env.Expected(res.final)
				if err != nil {
					t.Fatal(err)
				}
				got := optimize.Score(o.obj, lat, c)
				t.Logf("model on %s: %d deployments, final %s: true latency %v, $%.2f/M, score %.4g",
					g.Name, res.deployments, optimize.Key(res.final), lat.Round(time.Millisecond/10), c, got)
				if len(g.Tasks) > 10 {
					return
				}
				opt, key := truthOptimum(t, env, o.obj)
				t.Logf("exhaustive optimum %s score %.4g", key, opt)
				if got > opt*1.05 {
					t.Fatalf("model's setup scores %.4g, more than 5%% above the optimum %.4g", got, opt)
				}
			})
		}
	}
}

// fitsPriors reports whether every group of s fits its memory under the
// model's memory priors.
func fitsPriors(s *setup.Setup) bool {
	for _, g := range s.Groups {
		peak := optimize.DefaultHostBaseMB + optimize.DefaultTaskFootprintMB*float64(len(g.Tasks))
		if peak*(1+optimize.MemoryMargin) > float64(g.MemoryMB) {
			return false
		}
	}
	return true
}
