package analytics

import (
	"slices"
	"sort"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/cost"
)

// PlatformStats is what the platform reported (cost.Bill) for one group's
// invocations: its memory, the peak its execution environments reached,
// how often they started cold and how long their init took. It is what the
// model learns memory footprints and cold starts from.
type PlatformStats struct {
	Group    string
	Place    string // "provider/region"
	Tasks    []string
	MemoryMB int // the group's memory size
	// Fusion is the group's fusion level (setup.Group.Fusion): a
	// module-fused group loads one module for its Go tasks.
	Fusion string

	Invocations int
	Cold        int
	Failed      int
	// InitMean is the mean init duration of the cold invocations.
	InitMean time.Duration
	// Billed sums the billed durations the platform reported.
	Billed time.Duration
	// Warm counts the invocations that started warm and did not fail,
	// WarmDuration sums their durations (the run, without init).
	Warm         int
	WarmDuration time.Duration
	// ColdDuration sums the durations of the cold invocations that did
	// not fail (the run after init: their first calls).
	ColdDuration time.Duration
	// PeakMemoryMB is the largest max memory used reported.
	PeakMemoryMB int
	coldRuns     int // cold invocations in ColdDuration
}

// ColdRate is the share of invocations that started cold.
func (p *PlatformStats) ColdRate() float64 { return ratio(p.Cold, p.Invocations) }

// ColdStart is what a cold start added to an invocation's billed time, on
// average: its init, and how much longer the cold invocation ran than a
// warm one (its first calls). 0 without both a cold and a warm invocation.
func (p *PlatformStats) ColdStart() time.Duration {
	if p.coldRuns == 0 || p.Warm == 0 {
		return 0
	}
	return p.InitMean + p.ColdDuration/time.Duration(p.coldRuns) - p.WarmDuration/time.Duration(p.Warm)
}

// AddBills adds what the platforms reported for the invocations of s's
// groups to r (r.Platform, by group name). Bills of groups s does not hold
// are ignored.
func (r *Report) AddBills(s *setup.Setup, bills []cost.Bill) {
	if r.Platform == nil {
		r.Platform = map[string]*PlatformStats{}
	}
	inits := map[string]time.Duration{}
	for _, b := range bills {
		g, ok := s.Group(b.Group)
		if !ok {
			continue
		}
		ps := r.Platform[g.Name]
		if ps == nil {
			ps = &PlatformStats{Group: g.Name, Place: g.Place.String(), Tasks: slices.Clone(g.Tasks), MemoryMB: g.MemoryMB, Fusion: g.Fusion}
			sort.Strings(ps.Tasks)
			r.Platform[g.Name] = ps
		}
		ps.Invocations++
		ps.Billed += b.Billed
		ps.PeakMemoryMB = max(ps.PeakMemoryMB, b.MaxMemoryMB)
		if b.Failed {
			ps.Failed++
		}
		if b.Cold {
			ps.Cold++
			inits[g.Name] += b.Init
			if !b.Failed {
				ps.coldRuns++
				ps.ColdDuration += b.Duration
			}
		} else if !b.Failed {
			ps.Warm++
			ps.WarmDuration += b.Duration
		}
	}
	for name, ps := range r.Platform {
		if ps.Cold > 0 {
			ps.InitMean = inits[name] / time.Duration(ps.Cold)
		}
	}
	r.Billed = len(bills) > 0
}

// PlatformList returns the platform stats sorted by group.
func (r *Report) PlatformList() []*PlatformStats {
	out := make([]*PlatformStats, 0, len(r.Platform))
	for _, p := range r.Platform {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// SetLatency replaces version v's Latency and WarmLatency with latencies
// measured outside the spans: what a client timed, from sending a request
// to its answer. warm are those of the requests that met no cold start.
func (r *Report) SetLatency(v int64, all, warm []time.Duration) {
	if r.Latency == nil {
		r.Latency = map[int64]Dist{}
	}
	if r.WarmLatency == nil {
		r.WarmLatency = map[int64]Dist{}
	}
	r.Latency[v] = durDist(all)
	r.ClientTimed = true
	delete(r.WarmLatency, v)
	if len(warm) > 0 {
		r.WarmLatency[v] = durDist(warm)
	}
}

func durDist(ds []time.Duration) Dist {
	v := make([]int64, len(ds))
	for i, d := range ds {
		v[i] = int64(d)
	}
	return dist(v)
}

// AddFirstCalls adds to r's tasks (ConfigStats.FirstCalls, FirstExtra)
// what their first calls in a new execution environment cost over their
// typical call: a task that fills a cache, builds a table or warms its
// runtime on its first call runs long once per cold start, and a cold
// invocation is billed for it on top of its init. The cold invocations
// are the platforms' (bills that started cold and did not fail); the
// spans of a cold invocation's trace in its group are its calls, and each
// one's own time is set against the task's median own time in that group
// over spans. A trace that invoked the group more than once is left out:
// which of its calls ran in the new environment cannot be told. spans
// must be those Analyze was given (r.Tasks comes from them).
func (r *Report) AddFirstCalls(spans []span.Span, bills []cost.Bill) {
	type tg struct{ trace, group string }
	cold := map[tg]cost.Bill{}
	for _, b := range bills {
		if b.Cold && !b.Failed && b.Trace != "" {
			cold[tg{b.Trace, b.Group}] = b
		}
	}
	if len(cold) == 0 {
		return
	}
	type taskGroup struct{ task, group string }
	selfs := map[taskGroup][]int64{}
	invoked := map[tg]int{}
	for i := range spans {
		s := &spans[i]
		if s.Err != "" || s.Calls() > 1 {
			continue
		}
		selfs[taskGroup{s.Task, s.Group}] = append(selfs[taskGroup{s.Task, s.Group}], int64(s.Self()))
		if s.Caller == "" || s.Remote {
			invoked[tg{s.TraceID, s.Group}]++
		}
	}
	medians := make(map[taskGroup]time.Duration, len(selfs))
	for k, v := range selfs {
		medians[k] = time.Duration(dist(v).P50)
	}
	for i := range spans {
		s := &spans[i]
		k := tg{s.TraceID, s.Group}
		b, ok := cold[k]
		if !ok || invoked[k] != 1 || s.Err != "" || s.Calls() > 1 {
			continue
		}
		ts := r.Tasks[s.Task]
		if ts == nil {
			continue
		}
		cfg := Config{Place: b.Place.String(), MemoryMB: b.MemoryMB}
		j := slices.IndexFunc(ts.ByConfig, func(c ConfigStats) bool { return c.Config == cfg })
		if j < 0 {
			ts.ByConfig = append(ts.ByConfig, ConfigStats{Config: cfg})
			j = len(ts.ByConfig) - 1
		}
		ts.ByConfig[j].FirstCalls++
		ts.ByConfig[j].FirstExtra += s.Self() - medians[taskGroup{s.Task, s.Group}]
	}
}
