package analytics

import (
	"slices"
	"sort"
	"time"

	"github.com/fusionize/fusionize/api/setup"
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
	// PeakMemoryMB is the largest max memory used reported.
	PeakMemoryMB int
}

// ColdRate is the share of invocations that started cold.
func (p *PlatformStats) ColdRate() float64 { return ratio(p.Cold, p.Invocations) }

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
