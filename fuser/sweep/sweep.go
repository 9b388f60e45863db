// Package sweep measures many candidate setups of an application on the
// platforms it is deployed to and finds the measured Pareto front of
// latency against cost: the ground truth a strategy's choice is judged by,
// and the answer to "which setups are worth having under my prices?".
//
// The candidates are the setups whose groups are connected in the call
// graph (tasks that never call each other gain nothing from sharing a
// group), each with one memory size and one place for all its groups. The
// call graph comes from the first measurement, every task alone. When the
// candidates number at most Options.Max, every one is measured; otherwise
// every task alone and all fused in each place, a seeded sample, and the
// setups the model strategy proposes after learning from the sample.
// Options.Extra adds setups of the caller's choosing, such as groups of
// different memory sizes, which the candidates never are.
//
//	res, err := sweep.Run(ctx, env, sweep.Options{App: app, Places: places, MemoriesMB: []int{512, 1024}})
//	for _, i := range res.Front { fmt.Println(res.Points[i].Setup.Partition()) }
//
// Each candidate is deployed with a live switch and measured over a window
// of requests as the feedback loop measures an iteration (loop.Measure);
// nothing is recorded in the loop's history.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/loop"
	"github.com/fusionize/fusionize/fuser/optimize"
)

// Options configure Run. App and Places are required.
type Options struct {
	App        *manifest.App
	Places     []setup.Place
	MemoriesMB []int // default 256, 512, 1024
	// Max is the most setups to measure; default 24. A candidate space no
	// larger is measured whole.
	Max int
	// ModelPicks is how many of Max go to the model strategy's proposals
	// when the space is sampled; default 2.
	ModelPicks int
	Seed       uint64 // of the sample; default 1
	// Extra are setups to measure besides the candidates, right after the
	// extremes and within Max: setups the candidates cannot be, such as
	// groups of different memory sizes.
	Extra []*setup.Setup
	// Requests, Warmup and Settle shape each measurement as in loop.Options.
	Requests, Warmup int
	Settle           time.Duration
	// Progress, if set, is told before each measurement and after it.
	Progress func(Event)
}

// Event reports progress: Point is nil before the measurement of Setup.
type Event struct {
	N, Of int
	Setup *setup.Setup
	Point *Point
}

// Point is one measured candidate.
type Point struct {
	Setup          *setup.Setup // as deployed, with its version
	Source         string       // "every task alone", "all fused", "sample", "model pick", "candidate", "extra"
	P50Ms, P95Ms   float64
	CostPerMillion float64
	Requests       int
	Failed         int
	FirstFailure   string // the first failed request's error, when known
	Err            string // why the candidate could not be measured
	Score          float64
	MeetsBound     bool // the objective's latency bound, or true without one
}

// Usable reports whether p was measured with no failed request.
func (p *Point) Usable() bool { return p.Err == "" && p.Failed == 0 && p.Requests > 0 }

// Latency is p's latency at percentile ("p50" or "p95"), in ms.
func (p *Point) Latency(percentile string) float64 {
	if percentile == "p95" {
		return p.P95Ms
	}
	return p.P50Ms
}

// Result is a sweep's outcome.
type Result struct {
	Points []Point
	// Front indexes the usable points no other usable point beats on both
	// latency (at the objective's percentile) and cost, by latency.
	Front []int
	// Best indexes the usable point of the lowest objective score, -1 if
	// none is usable.
	Best int
	// ModelChoice indexes the point the model strategy proposed last after
	// learning from the others (it may be one measured before it), -1 if
	// it was not asked (the whole space was measured).
	ModelChoice int
	// Space is the number of candidate setups; Exhaustive says whether
	// every one was measured.
	Space      int
	Exhaustive bool
}

// Run measures the candidates of opts.App through env. On an error from
// env (or ctx) it returns what it measured so far with the error; a
// candidate that fails to deploy is recorded as a point with Err and the
// sweep goes on.
func Run(ctx context.Context, env loop.Env, opts Options) (Result, error) {
	if err := opts.defaults(); err != nil {
		return Result{}, err
	}
	app := opts.App
	tasks := app.TaskNames()
	res := Result{Best: -1, ModelChoice: -1}
	measured := map[string]bool{}
	var reports []*analytics.Report // per point; nil where it was not measured
	n, of := 0, opts.Max
	measure := func(s *setup.Setup, source string) error {
		s.Normalize(true)
		key := optimize.Key(s)
		if measured[key] {
			return nil
		}
		measured[key] = true
		n++
		if opts.Progress != nil {
			opts.Progress(Event{N: n, Of: of, Setup: s})
		}
		m, err := loop.Measure(ctx, env, s, opts.loopOptions())
		p := Point{Setup: s, Source: source}
		var rep *analytics.Report
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			p.Err = err.Error()
		default:
			p.Setup, p.Requests, p.Failed = m.Setup, m.Requests, m.Failed
			if m.FirstFailure != nil {
				p.FirstFailure = m.FirstFailure.Error()
			}
			p.P50Ms, p.P95Ms, p.CostPerMillion = ms(m.P50), ms(m.P95), m.CostPerMillion
			lat := m.P50
			if app.Objective.Latency == "p95" {
				lat = m.P95
			}
			p.Score = optimize.Score(app.Objective, lat, m.CostPerMillion)
			p.MeetsBound = app.Objective.LatencyBoundMs <= 0 || ms(lat) <= app.Objective.LatencyBoundMs
			rep = m.Report
		}
		res.Points = append(res.Points, p)
		reports = append(reports, rep)
		if opts.Progress != nil {
			opts.Progress(Event{N: n, Of: of, Setup: p.Setup, Point: &res.Points[len(res.Points)-1]})
		}
		return nil
	}
	finish := func(err error) (Result, error) {
		res.Front, res.Best = Front(res.Points, app.Objective.Latency), best(res.Points)
		return res, err
	}

	// The call graph, from every task alone.
	mid := opts.MemoriesMB[len(opts.MemoriesMB)/2]
	if err := measure(setup.Separate(0, tasks, opts.Places[0], mid), "every task alone"); err != nil {
		return finish(err)
	}
	first := res.Points[0]
	if !first.Usable() {
		return finish(fmt.Errorf("sweep: every task alone (%s) could not be measured, so the call graph is unknown: %s", describe(first.Setup), first.WhyNot()))
	}
	parts, complete := Partitions(tasks, edges(reports[0]), opts.Seed)
	res.Space = len(parts) * len(opts.MemoriesMB) * len(opts.Places)
	var all []*setup.Setup
	for _, pl := range opts.Places {
		for _, mem := range opts.MemoriesMB {
			for _, part := range parts {
				all = append(all, fromPartition(part, pl, mem))
			}
		}
	}
	if complete && res.Space <= opts.Max {
		of = res.Space
		res.Exhaustive = true
		for _, s := range all {
			if err := measure(s, "candidate"); err != nil {
				return finish(err)
			}
		}
		for _, s := range opts.Extra {
			if err := measure(s.Clone(), "extra"); err != nil {
				return finish(err)
			}
		}
		return finish(nil)
	}

	// A sample: the extremes in each place, the extra setups, a seeded
	// draw, the model's picks.
	for _, pl := range opts.Places {
		for _, s := range []*setup.Setup{setup.Separate(0, tasks, pl, mid), setup.Fused(0, "all", tasks, pl, mid)} {
			src := "every task alone"
			if len(s.Groups) == 1 {
				src = "all fused"
			}
			if n < opts.Max {
				if err := measure(s, src); err != nil {
					return finish(err)
				}
			}
		}
	}
	for _, s := range opts.Extra {
		if n < opts.Max {
			if err := measure(s.Clone(), "extra"); err != nil {
				return finish(err)
			}
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	sample := func(upTo int) error {
		for len(all) > 0 && n < upTo {
			s := all[0]
			all = all[1:]
			if err := measure(s, "sample"); err != nil {
				return err
			}
		}
		return nil
	}
	if err := sample(opts.Max - opts.ModelPicks); err != nil {
		return finish(err)
	}
	// The model's picks; one it proposes again, or that was measured
	// already, leaves its place to the sample.
	model := optimize.NewModel(optimize.ModelConfig{Places: opts.Places, InitialMemoryMB: mid, Memories: memoriesByProvider(opts), Seed: opts.Seed})
	for picks := 0; picks < opts.ModelPicks && n < opts.Max; picks++ {
		in := optimize.Input{App: optimize.AppOf(app)}
		for i := range res.Points {
			p := &res.Points[i]
			if !p.Usable() {
				continue
			}
			obs := optimize.Observation{Report: reports[i]}
			obs.Setup, obs.P50Ms, obs.P95Ms, obs.CostPerMillionUSD = p.Setup, p.P50Ms, p.P95Ms, p.CostPerMillion
			in.History = append(in.History, obs)
		}
		if b := best(res.Points); b >= 0 {
			in.Current, in.Report = res.Points[b].Setup, reports[b]
		}
		s, _, err := model.Propose(ctx, in)
		if err != nil {
			return finish(fmt.Errorf("sweep: the model strategy: %w", err))
		}
		s = s.Clone()
		s.Normalize(true)
		key := optimize.Key(s)
		if measured[key] {
			res.ModelChoice = slices.IndexFunc(res.Points, func(p Point) bool { return optimize.Key(p.Setup) == key })
			break // it would propose the same again
		}
		if err := measure(s, "model pick"); err != nil {
			return finish(err)
		}
		res.ModelChoice = len(res.Points) - 1
	}
	if err := sample(opts.Max); err != nil {
		return finish(err)
	}
	return finish(nil)
}

func (o *Options) defaults() error {
	if o.App == nil {
		return errors.New("sweep: Options.App is required")
	}
	if len(o.Places) == 0 {
		return errors.New("sweep: Options.Places is empty: name at least one place to deploy to")
	}
	if len(o.MemoriesMB) == 0 {
		o.MemoriesMB = []int{256, 512, 1024}
	}
	for _, m := range o.MemoriesMB {
		if m <= 0 {
			return fmt.Errorf("sweep: memory size %d MB is not positive", m)
		}
	}
	o.MemoriesMB = slices.Clone(o.MemoriesMB)
	slices.Sort(o.MemoriesMB)
	o.MemoriesMB = slices.Compact(o.MemoriesMB)
	if o.Max <= 0 {
		o.Max = 24
	}
	if o.ModelPicks <= 0 {
		o.ModelPicks = 2
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return nil
}

func (o *Options) loopOptions() loop.Options {
	return loop.Options{App: o.App, Requests: o.Requests, Warmup: o.Warmup, Settle: o.Settle}
}

func memoriesByProvider(o Options) map[string][]int {
	m := map[string][]int{}
	for _, p := range o.Places {
		m[p.Provider] = o.MemoriesMB
	}
	return m
}

// WhyNot says why p is not usable: its error, or how many requests failed
// and the first one's error.
func (p *Point) WhyNot() string {
	switch {
	case p.Err != "":
		return p.Err
	case p.Failed > 0:
		return failedWhy(p)
	}
	return "no requests measured"
}

// edges returns the call graph's edges from a report.
func edges(r *analytics.Report) [][2]string {
	var out [][2]string
	for _, e := range r.EdgeList() {
		out = append(out, [2]string{e.Caller, e.Callee})
	}
	return out
}

// maxExhaustiveEdges bounds the edge subsets Partitions enumerates (2^n).
const maxExhaustiveEdges = 16

// Partitions returns the partitions of tasks whose groups are connected by
// the call edges, each as a list of groups (tasks sorted, groups sorted).
// With at most 16 distinct edges it enumerates every one and complete is
// true; with more it returns a seeded sample of 4096 edge subsets' worth.
func Partitions(tasks []string, calls [][2]string, seed uint64) (parts [][][]string, complete bool) {
	index := map[string]int{}
	for i, t := range tasks {
		index[t] = i
	}
	type pair struct{ a, b int }
	var es []pair
	seen := map[pair]bool{}
	for _, c := range calls {
		a, okA := index[c[0]]
		b, okB := index[c[1]]
		if !okA || !okB || a == b {
			continue
		}
		p := pair{min(a, b), max(a, b)}
		if !seen[p] {
			seen[p] = true
			es = append(es, p)
		}
	}
	parent := make([]int, len(tasks))
	var find func(int) int
	find = func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	keys := map[string]bool{}
	add := func(use func(int) bool) {
		for i := range parent {
			parent[i] = i
		}
		for k, e := range es {
			if use(k) {
				parent[find(e.a)] = find(e.b)
			}
		}
		groups := map[int][]string{}
		for i, t := range tasks {
			r := find(i)
			groups[r] = append(groups[r], t)
		}
		var part [][]string
		for _, g := range groups {
			sort.Strings(g)
			part = append(part, g)
		}
		sort.Slice(part, func(i, j int) bool { return slices.Compare(part[i], part[j]) < 0 })
		var b strings.Builder
		for _, g := range part {
			b.WriteString("(" + strings.Join(g, ",") + ")")
		}
		if !keys[b.String()] {
			keys[b.String()] = true
			parts = append(parts, part)
		}
	}
	if len(es) <= maxExhaustiveEdges {
		for mask := 0; mask < 1<<len(es); mask++ {
			add(func(k int) bool { return mask&(1<<k) != 0 })
		}
		complete = true
	} else {
		rng := rand.New(rand.NewPCG(seed, seed^0xed9e))
		add(func(int) bool { return false })
		add(func(int) bool { return true })
		for range 4096 {
			add(func(int) bool { return rng.IntN(2) == 1 })
		}
	}
	sort.SliceStable(parts, func(i, j int) bool { return len(parts[i]) > len(parts[j]) })
	return parts, complete
}

func fromPartition(part [][]string, pl setup.Place, mem int) *setup.Setup {
	s := &setup.Setup{}
	for _, g := range part {
		s.Groups = append(s.Groups, setup.Group{Tasks: slices.Clone(g), MemoryMB: mem, Place: pl})
	}
	s.Normalize(true)
	return s
}

// Front returns the indexes of the usable points that no other usable point
// dominates (no worse on latency at percentile and on cost, better on one),
// sorted by latency.
func Front(points []Point, percentile string) []int {
	var front []int
	for i := range points {
		p := &points[i]
		if !p.Usable() {
			continue
		}
		dominated := false
		for j := range points {
			q := &points[j]
			if j == i || !q.Usable() {
				continue
			}
			lq, lp := q.Latency(percentile), p.Latency(percentile)
			if lq <= lp && q.CostPerMillion <= p.CostPerMillion && (lq < lp || q.CostPerMillion < p.CostPerMillion) {
				dominated = true
				break
			}
		}
		if !dominated {
			front = append(front, i)
		}
	}
	sort.SliceStable(front, func(a, b int) bool {
		return points[front[a]].Latency(percentile) < points[front[b]].Latency(percentile)
	})
	return front
}

func best(points []Point) int {
	b := -1
	for i := range points {
		if points[i].Usable() && (b < 0 || points[i].Score < points[b].Score) {
			b = i
		}
	}
	return b
}

func describe(s *setup.Setup) string {
	if s == nil {
		return ""
	}
	var parts []string
	for _, g := range s.Groups {
		parts = append(parts, fmt.Sprintf("(%s)%d@%s", strings.Join(g.Tasks, ","), g.MemoryMB, g.Place.String()))
	}
	return strings.Join(parts, " ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// failedWhy says how many of p's requests failed, and the first one's error
// when known.
func failedWhy(p *Point) string {
	why := fmt.Sprintf("%d of %d requests failed", p.Failed, p.Requests)
	if p.FirstFailure != "" {
		why += " (first: " + p.FirstFailure + ")"
	}
	return why
}
