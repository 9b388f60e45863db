package sandbox

import "time"

// Mark is a point in an environment's own time; see [Env.Since].
type Mark struct {
	wall      time.Time
	cpu       time.Duration // CPU time of the environment's threads
	delay     time.Duration // their run_delay
	throttled time.Duration // the cgroup's throttled_time
}

// Mark records the environment's counters now.
func (e *Env) Mark() Mark {
	cpu, delay, throttled := e.ctr.read()
	return Mark{wall: time.Now(), cpu: cpu, delay: delay, throttled: throttled}
}

// Since is the environment's elapsed time since m: the wall time with the time its threads
// waited for a physical CPU taken out, and the time spent running replaced by the time the
// environment's CPU quota gives that much CPU (see the package comment). It does not depend
// on how many other processes compete for this machine's CPUs.
func (e *Env) Since(m Mark) time.Duration {
	n := e.Mark()
	return e.spec.Limits.elapsed(n.wall.Sub(m.wall), n.cpu-m.cpu, n.delay-m.delay, n.throttled-m.throttled)
}

// elapsed turns the deltas of one stretch into environment time.
func (l Limits) elapsed(wall, cpu, delay, throttled time.Duration) time.Duration {
	cpu, delay, throttled = max(cpu, 0), max(delay, 0), max(throttled, 0)
	if l.VCPU <= 0 || l.VCPU >= 1 {
		// No quota below one CPU: only the wait for a physical CPU comes out.
		return max(wall-max(delay-throttled, 0), min(cpu, wall))
	}
	runnable := min(cpu+delay, wall)
	blocked := wall - runnable
	return blocked + l.QuotaTime(cpu)
}

// QuotaTime is how long an environment with these limits takes, alone on an idle machine,
// to receive cpu of CPU time from the start of a fresh CFS period: the quota (VCPU ×
// [CFSPeriod], at least [MinQuota]) in each period, throttled for the rest of it.
func (l Limits) QuotaTime(cpu time.Duration) time.Duration {
	if l.VCPU <= 0 || l.VCPU >= 1 || cpu <= 0 {
		return max(cpu, 0)
	}
	q := max(time.Duration(l.VCPU*float64(CFSPeriod)), MinQuota)
	n, r := cpu/q, cpu%q
	if r == 0 {
		return (n-1)*CFSPeriod + q
	}
	return n*CFSPeriod + r
}
