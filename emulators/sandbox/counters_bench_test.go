package sandbox

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// markFromScratch reads what a mark reads the way the sandbox did before it kept its files
// open: the cgroup's thread list, every thread's schedstat and cpu.stat, each opened,
// read and closed. It is the baseline of BenchmarkMark.
func markFromScratch(e *Env) (cpu, delay, throttled time.Duration) {
	dir := e.cg.cpu
	b, err := os.ReadFile(dir + "/tasks")
	if err != nil {
		return
	}
	for len(b) > 0 {
		var id uint64
		if id, b = leadingUint(b); id == 0 {
			continue
		}
		s, err := os.ReadFile("/proc/" + strconv.FormatUint(id, 10) + "/schedstat")
		if err != nil {
			continue
		}
		run, rest := leadingUint(s)
		wait, _ := leadingUint(rest)
		cpu, delay = cpu+time.Duration(run), delay+time.Duration(wait)
	}
	if s, err := os.ReadFile(dir + "/cpu.stat"); err == nil {
		throttled = time.Duration(keyUint(s, "throttled_time"))
	}
	return cpu, delay, throttled
}

// BenchmarkMark alternates a mark from the kept-open files with one that opens every file
// anew, on an idle environment, and reports both and their ratio:
//
//	go test -run '^$' -bench BenchmarkMark -benchtime 20000x -count 5 ./emulators/sandbox/
func BenchmarkMark(b *testing.B) {
	if s := Supported(); s.Cgroup != 1 || !s.CPUQuota {
		b.Skip("the baseline reads cgroup v1 files:", s.Reason)
	}
	env, _ := start(b, "bench-mark", "sleep", Limits{VCPU: 0.5, MemoryMB: 64})
	env.Mark()
	b.ReportAllocs()
	var kept, scratch time.Duration
	for range b.N {
		t0 := time.Now()
		env.Mark()
		t1 := time.Now()
		markFromScratch(env)
		kept, scratch = kept+t1.Sub(t0), scratch+time.Since(t1)
	}
	b.ReportMetric(float64(kept.Nanoseconds())/float64(b.N), "kept-open-ns/mark")
	b.ReportMetric(float64(scratch.Nanoseconds())/float64(b.N), "reopen-ns/mark")
	b.ReportMetric(float64(kept)/float64(scratch), "kept/reopen")
}
