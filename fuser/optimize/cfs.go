package optimize

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
)

// The CPU quota of an execution environment, as the emulated platforms
// enforce it (emulators/sandbox: CFS bandwidth control). An environment
// with a share s of a vCPU gets a quota of s × CFSPeriodMs of CPU time in
// every period and runs at full speed, on as many of the machine's CPUs as
// it has threads ready, until the period's quota is spent; then it waits
// for the next period. A fluid share (CPU work ÷ s) is right on average
// over many periods but not for an invocation shorter than one: a short
// burst runs at full speed, and one that needs a little more than the
// quota waits out the rest of the period, tens of milliseconds, whatever
// its own length.

// CFSPeriodMs is the CPU quota period of the emulated platforms, in ms
// (emulators/sandbox.CFSPeriod; Linux's default).
const CFSPeriodMs = 100.0

// cfsPhases is how many start phases within a period an invocation is
// averaged over: it starts at a uniformly random point of its
// environment's period, with the period's quota unspent.
const cfsPhases = 16

// cpuStream is CPU work spread evenly over a stretch [from, to] of an
// invocation's timeline at full speed: the sync path, or the in-memory
// async work beside it.
type cpuStream struct{ from, to, cpu float64 }

// rate is the stream's CPU use per ms of the full-speed timeline at t.
func (s cpuStream) rate(t float64) float64 {
	if s.cpu <= 0 || s.to <= s.from || t < s.from || t >= s.to {
		return 0
	}
	return s.cpu / (s.to - s.from)
}

// cfsTimes maps two points of an invocation's full-speed timeline, ans
// (its answer) and fin (the end of its work, ans ≤ fin), to wall time in
// an environment with a share vcpu of a vCPU, whose CPU work is streams.
// It returns the median over start phases of ans's wall time (a typical
// request's latency), its 95th percentile, and the mean of fin's (what the
// invocation is billed on average).
func cfsTimes(vcpu float64, streams []cpuStream, ans, fin float64) (ansMed, ansP95, finMean float64) {
	if vcpu <= 0 {
		return ans, ans, fin
	}
	quota := vcpu * CFSPeriodMs
	var need float64
	for _, s := range streams {
		need += s.cpu
	}
	if need <= quota {
		// A fresh period's quota covers it all, and a period that ends
		// midway brings a fresh one: nothing waits.
		return ans, ans, fin
	}
	var ansW [cfsPhases]float64
	var finSum float64
	for k := range cfsPhases {
		// Time left in the current period when the invocation starts.
		left := CFSPeriodMs * (float64(k) + 0.5) / cfsPhases
		a, f := cfsRun(quota, left, streams, ans, fin)
		ansW[k] = a
		finSum += f
	}
	s := ansW[:]
	slices.Sort(s)
	med := (s[cfsPhases/2-1] + s[cfsPhases/2]) / 2
	return med, s[int(math.Ceil(0.95*cfsPhases))-1], finSum / cfsPhases
}

// cfsRun runs one invocation that starts with left ms of its period to go
// and the period's quota unspent, and returns the wall times at which its
// full-speed timeline reaches ans and fin.
func cfsRun(quota, left float64, streams []cpuStream, ans, fin float64) (ansWall, finWall float64) {
	const eps = 1e-9
	t, w, q := 0.0, 0.0, quota
	ansWall = -1
	for t < fin-eps {
		if ansWall < 0 && t >= ans-eps {
			ansWall = w
		}
		r := 0.0
		next := fin
		if ansWall < 0 {
			next = min(next, ans)
		}
		for _, s := range streams {
			r += s.rate(t)
			if s.from > t+eps {
				next = min(next, s.from)
			}
			if s.to > t+eps {
				next = min(next, s.to)
			}
		}
		step := min(next-t, left)
		throttled := false
		if r > 0 && q/r < step {
			step, throttled = q/r, true
		}
		t += step
		w += step
		q -= r * step
		left -= step
		switch {
		case left <= eps:
			left, q = CFSPeriodMs, quota
		case throttled:
			// The quota is spent: the environment waits for the next period.
			w += left
			left, q = CFSPeriodMs, quota
		}
	}
	if ansWall < 0 {
		ansWall = w
	}
	return ansWall, w
}

// cfsOwnTime is the full-speed own time of a task that took y ms on
// average, alone in its invocation, using cpu ms of CPU time, in an
// environment with a share vcpu of a vCPU: the inverse of cfsTimes for one
// stream. Where no full-speed time explains y (its CPU time alone, at
// the quota, takes longer), it is y.
func cfsOwnTime(vcpu, cpu, y float64) float64 {
	if vcpu <= 0 || cpu <= 0 || y <= 0 {
		return y
	}
	wall := func(o float64) float64 {
		_, _, f := cfsTimes(vcpu, []cpuStream{{0, o, cpu}}, o, o)
		return f
	}
	lo, hi := 0.0, y
	if wall(lo+1e-6) > y {
		return y
	}
	for range 40 {
		mid := (lo + hi) / 2
		if wall(mid) > y {
			hi = mid
		} else {
			lo = mid
		}
	}
	return lo
}

// quotaShare is the share of a vCPU an environment of memoryMB on place
// gets as its CPU quota, or 0 where no quota applies (local hosts).
func (l *Learned) quotaShare(place setup.Place, memoryMB int) float64 {
	if place.Provider == cost.ProviderLocal {
		return 0
	}
	return l.prof.CPUShare(place, memoryMB)
}

// learnCPU reads every task's CPU time per call from the reports, where it
// ran alone in its invocation (analytics.ConfigStats.CPU; the CPU time of
// a call does not depend on the memory size), and, when every task that
// ran has one, switches the model to full-speed own times under the
// quota:
//   - own times: in each config a task ran alone in, its median and mean
//     own time less what that config's quota held it back (cfsOwnTime),
//     averaged over configs by calls;
//   - what an invocation costs beyond its tasks (cpuInv), which every
//     task's CPU time alone includes: from the groups of two or more
//     tasks measured, an invocation's CPU time against its tasks' alone
//     (a group of n calls saves n − 1 invocations' worth); before one was
//     measured, the least that explains the tasks measured alone (a Wasm
//     guest is single-threaded: a task's CPU time is at most its own
//     time);
//   - a task's CPU time per call: alone less cpuInv, at most its own time.
//
// Without a CPU time for every task it leaves the fluid model.
func (l *Learned) learnCPU(reports []*analytics.Report, in Input) {
	n := len(l.tasks)
	alone := make([]float64, n)
	om, oa := make([]float64, n), make([]float64, n)
	for t, name := range l.tasks {
		var sum, calls, wm, wa, w float64
		seen := false
		for _, r := range reports {
			ts := r.Tasks[name]
			if ts == nil {
				continue
			}
			seen = true
			for _, c := range ts.ByConfig {
				if c.CPUCount > 0 {
					sum += ms(c.CPU) * float64(c.CPUCount)
					calls += float64(c.CPUCount)
				}
			}
		}
		if !seen {
			continue
		}
		if calls == 0 {
			return
		}
		alone[t] = sum / calls
		eachConfig(reports, name, func(ts *analytics.TaskStats, c analytics.ConfigStats, p setup.Place) {
			if c.CPUCount == 0 {
				return
			}
			v := l.quotaShare(p, c.MemoryMB)
			k := float64(c.Count)
			wm += k * cfsOwnTime(v, alone[t], configMedianMs(ts, c))
			wa += k * cfsOwnTime(v, alone[t], ms(c.Mean))
			w += k
		})
		if w > 0 {
			om[t], oa[t] = wm/w, wa/w
		}
	}

	// What an invocation costs beyond its tasks.
	var kSum, kW, bound float64
	fused := 0
	windows := make([]Observation, 0, len(in.History)+1)
	windows = append(windows, in.History...)
	if in.Current != nil && in.Report != nil {
		windows = append(windows, Observation{Iteration: api.Iteration{Setup: in.Current}, Report: in.Report})
	}
	for _, o := range windows {
		if o.Setup == nil || o.Report == nil {
			continue
		}
		for _, g := range o.Setup.Groups {
			gs := o.Report.Groups[g.Name]
			if len(g.Tasks) < 2 || gs == nil || gs.CPUCount < 10 || gs.Invocations == 0 {
				continue
			}
			var lone, calls float64
			for _, name := range g.Tasks {
				if ts, i := o.Report.Tasks[name], l.idx[name]; ts != nil {
					c := float64(ts.Invocations) / float64(gs.Invocations)
					lone += c * alone[i]
					calls += c
				}
			}
			if calls <= 1.5 {
				continue
			}
			kSum += (lone - ms(gs.CPU)/float64(gs.CPUCount)) / (calls - 1) * float64(gs.CPUCount)
			kW += float64(gs.CPUCount)
			fused++
		}
	}
	least := math.Inf(1)
	for t := range l.tasks {
		if alone[t] > 0 {
			bound = max(bound, alone[t]-oa[t])
			least = min(least, alone[t])
		}
	}
	inv := bound
	if kW > 0 {
		inv = kSum / kW
	}
	inv = min(max(inv, 0), least)

	l.cpu, l.cpuInv = make([]float64, n), inv
	for t := range l.tasks {
		l.cpu[t] = min(max(alone[t]-inv, 0), oa[t])
	}
	copy(l.am, om)
	copy(l.a, oa)
	clear(l.bm)
	clear(l.b)
	shown := make([]string, 0, n)
	for t, name := range l.tasks {
		shown = append(shown, fmt.Sprintf("%s %.1f of %.1f ms", name, l.cpu[t], om[t]))
	}
	from := "the least the tasks measured alone allow"
	if fused > 0 {
		from = fmt.Sprintf("from %d measured groups of several tasks", fused)
	}
	l.notes = append(l.notes, fmt.Sprintf("CPU time per call as measured, of own time at full speed (median): %s; %.1f ms more per invocation (%s); invocations run under their environment's CPU quota, %.0f ms periods",
		strings.Join(shown, ", "), inv, from, CFSPeriodMs))
}
