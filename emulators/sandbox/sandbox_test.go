package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the environments' program: SANDBOX_TEST_HELPER selects what
// it does (see helper).
func TestMain(m *testing.M) {
	if mode := os.Getenv("SANDBOX_TEST_HELPER"); mode != "" {
		helper(mode, os.Args[1:])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var sink atomic.Uint64 // keeps the work; spun on several threads at once

// spin does n units of fixed CPU work.
func spin(n int) {
	x := uint64(88172645463325252)
	for i := 0; i < n*1_000_000; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	sink.Add(x)
}

func helper(mode string, args []string) {
	arg := func(i int) int { n, _ := strconv.Atoi(args[i]); return n }
	switch mode {
	case "work": // spin args[0] units, say "done", then wait to be stopped
		spin(arg(0))
		fmt.Println("done")
		time.Sleep(time.Hour)
	case "spin": // spin forever
		for {
			spin(100)
		}
	case "alloc": // allocate and touch args[0] MB, say "done", wait
		b := make([]byte, arg(0)<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("done")
		time.Sleep(time.Hour)
		sink.Add(uint64(b[len(b)/2]))
	case "threads": // spin args[1] units on each of args[0] new OS threads, say "done", wait
		var wg sync.WaitGroup
		for range arg(0) {
			wg.Add(1)
			go func() {
				runtime.LockOSThread() // a thread of its own, kept (asleep) after the work
				spin(arg(1))
				wg.Done()
				select {}
			}()
		}
		wg.Wait()
		fmt.Println("done")
		time.Sleep(time.Hour)
	case "cycle": // args[0] times: spin args[1] units, sleep args[2] ms; say "done", wait
		for range arg(0) {
			spin(arg(1))
			time.Sleep(time.Duration(arg(2)) * time.Millisecond)
		}
		fmt.Println("done")
		time.Sleep(time.Hour)
	case "sleep":
		time.Sleep(time.Hour)
	case "ignore-term":
		signalIgnoreTerm()
		time.Sleep(time.Hour)
	}
}

func signalIgnoreTerm() { syscallIgnore(syscall.SIGTERM) }

// start starts the test binary as an environment in mode and stops it when the test ends.
// The returned channel receives each line the environment prints.
func start(t testing.TB, name, mode string, l Limits, args ...string) (*Env, <-chan string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	env, err := Start(context.Background(), Spec{
		Name: fmt.Sprintf("test-%d-%s", os.Getpid(), name), Path: exe, Args: args,
		Env: []string{"SANDBOX_TEST_HELPER=" + mode}, Limits: l, Stdout: w, Stderr: os.Stderr,
	})
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		r.Close()
	}()
	t.Cleanup(func() { _ = env.Stop(context.Background()) })
	return env, lines
}

// work runs units of CPU work in a new environment and returns its wall time and the
// environment's own time for it.
func work(t testing.TB, name string, l Limits, units int) (wall, own time.Duration) {
	t.Helper()
	return measure(t, name, "work", l, strconv.Itoa(units))
}

// measure runs a new environment in mode until it says "done" and returns its wall time
// and the environment's own time for it.
func measure(t testing.TB, name, mode string, l Limits, args ...string) (wall, own time.Duration) {
	t.Helper()
	env, lines := start(t, name, mode, l, args...)
	t0, m := time.Now(), env.Mark()
	if line := <-lines; line != "done" {
		t.Fatalf("environment %s: got %q, want done (err %v)", name, line, env.Err())
	}
	wall, own = time.Since(t0), env.Since(m)
	if err := env.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	return wall, own
}

func TestSupportedExplainsWhatIsMissing(t *testing.T) {
	s := Supported()
	t.Logf("support: %+v", s)
	if (!s.CPUQuota || !s.MemoryLimit) && s.Reason == "" {
		t.Errorf("a control is missing and Reason is empty: %+v", s)
	}
}

func TestQuotaSlowsCPUBoundChildByOneOverVCPU(t *testing.T) {
	if !Supported().CPUQuota {
		t.Skip("no CPU quota on this machine:", Supported().Reason)
	}
	// Wall times are at the mercy of whatever else runs on this machine (a busy machine
	// gives the unlimited child less than a core, hiding the quota): the best of three
	// interleaved pairs must show the quota, and the limited child may never run faster
	// than its quota allows.
	const units, vcpu = 60, 0.25
	var ratios []float64
	for try := 0; try < 3; try++ {
		fenv, flines := start(t, "free", "work", Limits{}, strconv.Itoa(units))
		t0, m := time.Now(), fenv.Mark()
		<-flines
		free, n := time.Since(t0), fenv.Mark()
		fenv.Stop(context.Background())
		share := float64(n.cpu-m.cpu) / float64(free)
		env, lines := start(t, "quarter", "work", Limits{VCPU: vcpu}, strconv.Itoa(units))
		t0, m = time.Now(), env.Mark()
		<-lines
		limited, n := time.Since(t0), env.Mark()
		env.Stop(context.Background())
		if rate := float64(n.cpu-m.cpu) / float64(limited); rate > vcpu*1.5 { // a short run: one CFS period's quantization, and the race detector's threads
			t.Errorf("the 0.25 vCPU child used %.2f of a CPU", rate)
		}
		ratio := float64(limited) / float64(free)
		t.Logf("unlimited %v (%.2f of a CPU), 0.25 vCPU %v: ratio %.2f (1/VCPU = 4)", free, share, limited, ratio)
		if ratio >= 2 && ratio <= 6 {
			return
		}
		if share < 0.7 {
			t.Logf("the machine is busy: the unlimited child got %.2f of a CPU, so the ratio shows less than the quota", share)
			continue
		}
		ratios = append(ratios, ratio)
	}
	if len(ratios) > 0 {
		t.Errorf("0.25 vCPU slowed the work by %.2f×, want about 4×", ratios)
	}
}

func TestMemoryLimitKillsChildAsOutOfMemory(t *testing.T) {
	env, lines := start(t, "oom", "alloc", Limits{MemoryMB: 32}, "96")
	select {
	case line, ok := <-lines:
		if ok {
			t.Fatalf("the child allocated 96 MB under a 32 MB limit and said %q", line)
		}
		<-env.Done()
	case <-env.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the child was not killed")
	}
	if err := env.Err(); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("Err() = %v, want ErrOutOfMemory", err)
	}
	t.Logf("err: %v, max memory %d MB", env.Err(), env.MaxMemoryBytes()>>20)
}

func TestMemoryFallbackKillsChildAsOutOfMemory(t *testing.T) {
	saved := support
	support = Support{Reason: "test: cgroups disabled"}
	t.Cleanup(func() { support = saved })
	env, lines := start(t, "oom-fallback", "alloc", Limits{MemoryMB: 32}, "256")
	select {
	case line, ok := <-lines:
		// The allocation may finish before a poll sees it; then the next poll kills it.
		if ok {
			t.Logf("child said %q before the poll", line)
		}
		<-env.Done()
	case <-env.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the child was not killed")
	}
	if err := env.Err(); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("Err() = %v, want ErrOutOfMemory", err)
	}
}

func TestMaxMemoryBytesSeesAllocation(t *testing.T) {
	env, lines := start(t, "peak", "alloc", Limits{MemoryMB: 256}, "64")
	if line := <-lines; line != "done" {
		t.Fatalf("got %q (err %v)", line, env.Err())
	}
	if got := env.MaxMemoryBytes(); got < 64<<20 {
		t.Errorf("MaxMemoryBytes = %d MB after touching 64 MB", got>>20)
	}
}

func TestStopLeavesNoProcessAndNoCgroup(t *testing.T) {
	env, _ := start(t, "stop", "ignore-term", Limits{VCPU: 0.5, MemoryMB: 64})
	pid := env.PID()
	var dirs []string
	if env.cg != nil {
		dirs = append(dirs, env.cg.dirs...)
	}
	time.Sleep(50 * time.Millisecond) // let it install its SIGTERM handler
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := env.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Stop (kill 0: %v)", pid, err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s still exists after Stop", d)
		}
	}
	select {
	case <-env.Done():
	default:
		t.Error("Done not closed after Stop")
	}
}

func TestStartFailureLeavesNoCgroup(t *testing.T) {
	name := fmt.Sprintf("test-%d-missing", os.Getpid())
	_, err := Start(context.Background(), Spec{Name: name, Path: "/nonexistent/bootstrap", Limits: Limits{VCPU: 0.5, MemoryMB: 64}})
	if err == nil {
		t.Fatal("Start of a missing program succeeded")
	}
	t.Logf("start: %v", err)
	for _, ctrl := range []string{"cpu", "memory"} {
		d := filepath.Join(cgroupRoot, ctrl, parentName, name)
		deadline := time.Now().Add(2 * time.Second)
		for {
			if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("cgroup %s left behind", d)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestQuotaTimeFollowsCFSPeriods(t *testing.T) {
	l := Limits{VCPU: 0.25}
	for _, c := range []struct{ cpu, want time.Duration }{
		{time.Millisecond, time.Millisecond},
		{25 * time.Millisecond, 25 * time.Millisecond},
		{30 * time.Millisecond, 105 * time.Millisecond},
		{50 * time.Millisecond, 125 * time.Millisecond},
	} {
		if got := l.QuotaTime(c.cpu); got != c.want {
			t.Errorf("QuotaTime(%v) at 0.25 vCPU = %v, want %v", c.cpu, got, c.want)
		}
	}
	if got := (Limits{}).QuotaTime(7 * time.Millisecond); got != 7*time.Millisecond {
		t.Errorf("unlimited QuotaTime = %v", got)
	}
}
