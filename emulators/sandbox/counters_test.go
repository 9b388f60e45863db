package sandbox

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"
)

// schedstatFromScratch sums /proc/TID/schedstat over /proc/PID/task, opening every file
// anew: the reference the kept-open counters must agree with.
func schedstatFromScratch(t *testing.T, pid int) (cpu time.Duration) {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range ents {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + de.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := bytes.Fields(b); len(f) > 0 {
			n, _ := strconv.ParseInt(string(f[0]), 10, 64)
			cpu += time.Duration(n)
		}
	}
	return cpu
}

func TestMarkCountsThreadsStartedAfterTheFirstMark(t *testing.T) {
	env, lines := start(t, "threads", "threads", Limits{}, "4", "20")
	first := env.Mark() // before the four working threads exist
	if line := <-lines; line != "done" {
		t.Fatalf("got %q, want done (err %v)", line, env.Err())
	}
	// The working threads sleep now, as do the others.
	scratch := schedstatFromScratch(t, env.PID())
	kept := env.Mark()
	if kept.cpu < scratch*9/10 || kept.cpu > scratch*11/10+10*time.Millisecond {
		t.Errorf("kept-open counters give %v of CPU, reading the files anew gives %v", kept.cpu, scratch)
	}
	if kept.cpu <= first.cpu {
		t.Errorf("CPU time did not grow over the work: %v then %v", first.cpu, kept.cpu)
	}
}

func TestMarkDoesNotAllocate(t *testing.T) {
	env, _ := start(t, "mark-allocs", "sleep", Limits{VCPU: 0.5, MemoryMB: 64})
	env.Mark() // opens the files of the threads there are
	if n := testing.AllocsPerRun(100, func() { env.Since(env.Mark()) }); n > 0 {
		t.Errorf("Mark+Since allocates %.1f times per call, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { env.MaxMemoryBytes() }); n > 0 && Supported().MemoryLimit {
		t.Errorf("MaxMemoryBytes allocates %.1f times per call, want 0", n)
	}
}

func TestCountersParseKernelFiles(t *testing.T) {
	if v, rest := leadingUint([]byte("123456 789 12\n")); v != 123456 || string(rest) != " 789 12\n" {
		t.Errorf("leadingUint = %d, %q", v, rest)
	}
	stat := []byte("nr_periods 10\nnr_throttled 3\nthrottled_time 4500\n")
	for key, want := range map[string]uint64{"throttled_time": 4500, "nr_throttled": 3, "throttled": 0, "nr_periods": 10} {
		if got := keyUint(stat, key); got != want {
			t.Errorf("keyUint(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestNumThreadsReadsProcStat(t *testing.T) {
	env, lines := start(t, "numthreads", "work", Limits{}, "0")
	if line := <-lines; line != "done" {
		t.Fatalf("got %q, want done (err %v)", line, env.Err())
	}
	c := newCounters(env.PID(), nil)
	defer c.close()
	// The Go runtime may still start a thread between the two readings: retry a few times.
	var got, want int
	for range 20 {
		c.mu.Lock()
		got = c.numThreads()
		c.mu.Unlock()
		ents, err := os.ReadDir("/proc/" + strconv.Itoa(env.PID()) + "/task")
		if err != nil {
			t.Fatal(err)
		}
		if want = len(ents); got == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("numThreads = %d, /proc/PID/task lists %d", got, want)
}
