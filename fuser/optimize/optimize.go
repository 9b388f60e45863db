// Package optimize proposes fusion setups: which tasks share a group, with
// how much memory, on which provider and region. Strategies sit behind one
// small interface so the feedback loop can run any of them:
//
//	type Strategy interface {
//		Name() string
//		Propose(ctx context.Context, in Input) (*setup.Setup, Explanation, error)
//	}
//
// Two strategies ship:
//
//   - Paper is the published heuristic (Fusionize, Fusionize++): start with
//     every task alone, inline one sync callee per deployment, keep async
//     callees apart, then try memory sizes group by group. It needs no model
//     and many deployments (see fuser/README.md for the counts).
//   - Model learns each task's own time, the call edges, the platforms'
//     invoke overhead and prices from spans, and cold starts, init times and
//     memory footprints from what the platforms reported; predicts latency
//     and cost of any candidate setup (with a confidence), refuses groups
//     whose predicted peak does not fit their memory, and searches
//     partitions × memory × places for the objective of the manifest. It
//     settles in a few deployments.
//
// A loop around a strategy looks like this:
//
//	strat := optimize.NewModel(optimize.ModelConfig{})
//	in := optimize.Input{App: optimize.AppOf(manifest)}
//	for {
//		next, why, err := strat.Propose(ctx, in)
//		if err != nil || why.Converged { break }
//		spans := deployAndObserve(next)               // adapters + span store
//		rep := analytics.Analyze(spans, analytics.Options{Tasks: in.App.Tasks, Setups: []*setup.Setup{next}})
//		sum, _ := prices.Summarize(spans, cost.PlacesOf(next))
//		in.Current, in.Report = next, rep
//		in.History = append(in.History, optimize.Observe(next, rep, sum.PerMillion, why.Change))
//	}
package optimize

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/analytics"
)

// Strategy proposes the next setup to deploy.
//
// Propose returns the setup to deploy next and why. When Explanation.Converged
// is true the returned setup is the current one and nothing needs deploying.
// Errors wrap ErrBadInput for an app or history it cannot work with and
// ErrNoData when it needs measurements of the current setup first.
type Strategy interface {
	Name() string
	Propose(ctx context.Context, in Input) (*setup.Setup, Explanation, error)
}

// Errors strategies return.
var (
	ErrBadInput = errors.New("optimize: bad input")
	ErrNoData   = errors.New("optimize: no measurements of the current setup")
)

// App is what a strategy needs to know about the application.
type App struct {
	Name      string             `json:"name"`
	Entry     string             `json:"entry"`
	Tasks     []string           `json:"tasks"`
	Objective manifest.Objective `json:"objective"`
	// ModuleFusable are the tasks a module-fused group links into one
	// module (manifest.App.ModuleFusable: Go, not isolated); the model
	// strategy module-fuses groups of two or more of them (fusion.go).
	ModuleFusable []string `json:"moduleFusable,omitempty"`
	// Isolated are the tasks the manifest isolates (isolate: true): no
	// module-fused group may hold them (setup.Setup.ValidateIsolation).
	Isolated []string `json:"isolated,omitempty"`
}

// AppOf returns the App of a parsed manifest.
func AppOf(m *manifest.App) App {
	return App{Name: m.Name, Entry: m.Entry, Tasks: m.TaskNames(), Objective: m.Objective, ModuleFusable: m.ModuleFusable(m.TaskNames()), Isolated: m.IsolatedTasks()}
}

func (a *App) validate() error {
	if len(a.Tasks) == 0 {
		return fmt.Errorf("%w: app %q has no tasks", ErrBadInput, a.Name)
	}
	if !slices.Contains(a.Tasks, a.Entry) {
		return fmt.Errorf("%w: entry %q is not a task of app %q", ErrBadInput, a.Entry, a.Name)
	}
	return nil
}

// Observation is one iteration of the loop (api.Iteration: the deployed
// setup, what was measured, what was decided) with the analysis of its
// spans, which the model learns from.
type Observation struct {
	api.Iteration
	Report *analytics.Report // optional; the model learns from every report it is given
}

// Latency returns the measured percentile named by the objective.
func (o *Observation) Latency(obj manifest.Objective) time.Duration {
	if obj.Latency == "p95" {
		return o.P95()
	}
	return o.P50()
}

// Observe makes the Observation of setup s from the analysis of its spans
// and its measured cost per million requests.
func Observe(s *setup.Setup, r *analytics.Report, costPerMillion float64, decision string) Observation {
	o := Observation{Iteration: api.Iteration{Setup: s, CostPerMillionUSD: costPerMillion, Decision: decision}, Report: r}
	if r != nil {
		d := r.Latency[s.Version]
		o.P50Ms, o.P95Ms = ms(d.P50), ms(d.P95)
	}
	return o
}

// Input is everything a strategy may use.
type Input struct {
	App App
	// Current is the deployed setup; nil before the first deployment.
	Current *setup.Setup
	// History lists every deployed setup in order; once measured, its last
	// entry is Current.
	History []Observation
	// Report is the analysis of Current's spans.
	Report *analytics.Report
}

// Prediction is a model's forecast for a setup.
type Prediction struct {
	Latency        time.Duration // at the objective's percentile
	P50, P95       time.Duration
	CostPerMillion float64
	Score          float64 // lower is better; see Score
	// Confidence is the model's relative half-width (0.2: ±20%): the
	// median error of its measured past predictions, DefaultConfidence
	// before any.
	Confidence float64
}

// Record returns p as the prediction an iteration records.
func (p *Prediction) Record() *api.Prediction {
	if p == nil {
		return nil
	}
	return &api.Prediction{P50Ms: ms(p.P50), P95Ms: ms(p.P95), CostPerMillionUSD: p.CostPerMillion, Confidence: p.Confidence}
}

// Explanation says why a strategy proposed what it did.
type Explanation struct {
	Strategy  string
	Change    string // one line: what differs from the current setup
	Converged bool   // nothing left to change
	// BoundUnmet, with Converged, says that no candidate is predicted to
	// meet the objective's latency bound: the best there is was kept.
	BoundUnmet bool
	Predicted  *Prediction
	Notes      []string
}

// Score returns the objective's value for a latency and a cost (lower is
// better). With a latency bound it is the cost when the bound holds and
// 1e6 × (1 + ms over the bound) otherwise, so any setup within the bound beats
// every setup beyond it; without a bound it is
// LatencyWeight × latency(ms) + CostWeight × cost($ per million requests).
func Score(o manifest.Objective, latency time.Duration, costPerMillion float64) float64 {
	ms := float64(latency) / float64(time.Millisecond)
	if o.LatencyBoundMs > 0 {
		if ms <= o.LatencyBoundMs {
			return costPerMillion
		}
		return 1e6 * (1 + ms - o.LatencyBoundMs)
	}
	wl, wc := o.LatencyWeight, o.CostWeight
	if wl == 0 && wc == 0 {
		wl, wc = 1, 1
	}
	return wl*ms + wc*costPerMillion
}

// Key returns a canonical string of a setup's partition, fusion levels,
// memory sizes and places, ignoring group names and version: a group
// module-fused and the same group instance-fused are different setups.
func Key(s *setup.Setup) string {
	c := s.Clone()
	c.Normalize(false)
	var b strings.Builder
	for _, g := range c.Groups {
		fusion := ""
		if g.ModuleFused() {
			fusion = "[module]"
		}
		fmt.Fprintf(&b, "(%s)%s%d@%s/%s ", strings.Join(g.Tasks, ","), fusion, g.MemoryMB, g.Place.String(), g.Place.Arch)
	}
	return b.String()
}

// finish normalizes s, names groups after their tasks and sets its version.
func finish(s *setup.Setup, cur *setup.Setup) *setup.Setup {
	s.Normalize(true)
	s.Version = 1
	if cur != nil {
		s.Version = cur.Version + 1
	}
	return s
}

func fmtMs(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
