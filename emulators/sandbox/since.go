package sandbox

import (
	"math"
	"runtime"
	"time"
)

// markThreads is how many threads a [Mark] keeps the run_delay of one by one; the rest
// are summed into its last slot.
const markThreads = 32

// threadDelay is one thread's run_delay at a mark; tid -1 holds the threads past the
// first markThreads-1.
type threadDelay struct {
	tid   int
	delay time.Duration
}

// Mark is a point in an environment's own time; see [Env.Since].
type Mark struct {
	wall      time.Time
	cpu       time.Duration // CPU time of the environment's threads
	throttled time.Duration // the cgroup's throttled_time
	n         int           // threads in use
	threads   [markThreads]threadDelay
}

// Mark records the environment's counters now.
func (e *Env) Mark() Mark {
	m := Mark{}
	m.cpu, m.throttled, m.n = e.ctr.read(&m.threads)
	m.wall = time.Now()
	return m
}

// Since is the environment's elapsed time since m: the wall time with the time it waited
// for a physical CPU taken out, and at least the time the environment's CPU quota needs
// to give the CPU time it used (see the package comment). It does not depend on how many
// other processes compete for this machine's CPUs.
func (e *Env) Since(m Mark) time.Duration {
	n := e.Mark()
	return e.spec.Limits.elapsed(n.wall.Sub(m.wall), n.cpu-m.cpu, contention(m, n))
}

// contention is how long the environment waited for a physical CPU from m to n, from
// each thread's run_delay gathered meanwhile less the time the quota throttled the
// environment (a throttled thread waits on a runqueue too, and that wait is the
// platform's own). Summing the threads' waits counts one wait of the work several times
// when threads wait at once: a Go runtime wakes a second thread to look for work whenever
// it readies a goroutine, and under contention both wait for the CPU. Threads that wait at
// once wait for this machine's CPUs, so at most that many of them wait side by side: the
// wait is the sum over the CPU count, and at least the largest thread's.
func contention(m, n Mark) time.Duration {
	throttled := max(n.throttled-m.throttled, 0)
	var sum, most time.Duration
	for _, t := range n.threads[:n.n] {
		d := t.delay
		for _, o := range m.threads[:m.n] {
			if o.tid == t.tid {
				d -= o.delay
				break
			}
		}
		if d -= throttled; d > 0 {
			sum += d
			most = max(most, d)
		}
	}
	return max(most, sum/time.Duration(cpus))
}

// cpus is this machine's CPU count.
var cpus = max(runtime.NumCPU(), 1)

// elapsed turns the deltas of one stretch into environment time.
func (l Limits) elapsed(wall, cpu, contention time.Duration) time.Duration {
	cpu = max(cpu, 0)
	if l.VCPU <= 0 || l.VCPU >= 1 {
		return max(wall-contention, min(cpu, wall))
	}
	// An environment that got less CPU than its quota under contention was throttled
	// less than it would have been alone, so the result is at least the time the quota
	// alone would have given it that much CPU in one burst from a fresh period (QuotaTime).
	return max(wall-contention, l.QuotaTime(cpu))
}

// quota is the CPU time the environment gets per CFS period.
func (l Limits) quota() time.Duration {
	return max(time.Duration(math.Round(l.VCPU*float64(CFSPeriod))), MinQuota)
}

// QuotaTime is how long an environment with these limits takes, alone on an idle machine,
// to receive cpu of CPU time from the start of a fresh CFS period: the quota (VCPU ×
// [CFSPeriod], at least [MinQuota]) in each period, throttled for the rest of it.
func (l Limits) QuotaTime(cpu time.Duration) time.Duration {
	if l.VCPU <= 0 || l.VCPU >= 1 || cpu <= 0 {
		return max(cpu, 0)
	}
	q := l.quota()
	n, r := cpu/q, cpu%q
	if r == 0 {
		return (n-1)*CFSPeriod + q
	}
	return n*CFSPeriod + r
}
