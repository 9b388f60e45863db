package sandbox

import (
	"testing"
	"time"
)

// mark builds a Mark of threads (tid, run_delay in ms) and throttled time.
func mark(throttledMs int, threads ...[2]int) Mark {
	m := Mark{throttled: time.Duration(throttledMs) * time.Millisecond, n: len(threads)}
	for i, t := range threads {
		m.threads[i] = threadDelay{tid: t[0], delay: time.Duration(t[1]) * time.Millisecond}
	}
	return m
}

func TestContentionCountsWaitsSideBySideOncePerCPU(t *testing.T) {
	defer func(n int) { cpus = n }(cpus)
	cpus = 2
	const ms = time.Millisecond
	for _, tc := range []struct {
		name string
		m, n Mark
		want time.Duration
	}{
		{"one thread, less the throttled time", mark(0, [2]int{1, 5}), mark(10, [2]int{1, 35}), 20 * ms},
		{"two threads waiting side by side: one wait", mark(0), mark(0, [2]int{1, 30}, [2]int{2, 30}), 30 * ms},
		{"four threads: their sum over the CPUs", mark(0), mark(0, [2]int{1, 10}, [2]int{2, 10}, [2]int{3, 10}, [2]int{4, 10}), 20 * ms},
		{"at least the largest thread's", mark(0), mark(0, [2]int{1, 50}, [2]int{2, 2}), 50 * ms},
		{"a thread started since the first mark counts whole", mark(0, [2]int{1, 100}), mark(0, [2]int{1, 100}, [2]int{2, 8}), 8 * ms},
		{"throttled more than waited", mark(0), mark(40, [2]int{1, 30}), 0},
	} {
		if got := contention(tc.m, tc.n); got != tc.want {
			t.Errorf("%s: contention %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestElapsedIsWallLessTheWaitAndAtLeastWhatTheQuotaNeeds(t *testing.T) {
	const ms = time.Millisecond
	l := Limits{VCPU: 0.29} // 29 ms of CPU per 100 ms period
	for _, tc := range []struct {
		name                  string
		wall, cpu, wait, want time.Duration
	}{
		// Bursts that fit the quota between sleeps take their wall time.
		{"work between sleeps, alone", 700 * ms, 190 * ms, 0, 700 * ms},
		{"the same beside busy processes", 1300 * ms, 190 * ms, 600 * ms, 700 * ms},
		// CPU-bound work that got less than its quota under contention
		// takes what the quota needs for it: 290 ms of CPU in 10 periods.
		{"CPU-bound, starved", 1000 * ms, 290 * ms, 900 * ms, 929 * ms},
	} {
		if got := l.elapsed(tc.wall, tc.cpu, tc.wait); got != tc.want {
			t.Errorf("%s: elapsed %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := (Limits{}).elapsed(100*ms, 30*ms, 90*ms); got != 30*ms {
		t.Errorf("no quota: elapsed %v, want the CPU time 30ms as its floor", got)
	}
}
