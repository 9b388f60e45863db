// Package sandbox runs one execution environment of an emulated cloud function as a process
// with the platform's limits: a CPU quota (a share of one CPU) and a memory limit, enforced
// with cgroups where the machine allows it.
//
// An environment is a process group started from a [Spec]. Its CPU follows [Limits.VCPU]
// through the CFS bandwidth controller (cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us, or
// v2 cpu.max) and its memory [Limits.MemoryMB] through memory.limit_in_bytes (plus
// memory.memsw.limit_in_bytes where present) or v2 memory.max. A process the memory limit
// killed ends with an error that matches [ErrOutOfMemory].
//
// Where cgroups are absent or not writable (see [Supported]), the environment still runs:
// the CPU quota is not enforced (durations from [Env.Since] still follow it, see below), and
// memory is polled every few milliseconds from /proc (VmRSS summed over the process group);
// a group over its limit is sent SIGKILL and its exit is reported as [ErrOutOfMemory].
//
// # Environment time
//
// [Env.Since] measures how long a stretch of work took in the environment's own time, so that
// durations do not depend on how busy this machine is. Per thread, the kernel reports CPU
// time and run_delay (time runnable but waiting on a runqueue) in /proc/TID/schedstat.
// run_delay holds both kinds of waiting: for a physical CPU held by someone else, and for
// the environment's own quota (a throttled task stays runnable). Since takes the first
// kind out of the wall time: each thread's run_delay less the cgroup's throttled_time,
// summed and divided by this machine's CPU count, and at least the largest thread's.
// Not the plain sum: a Go runtime wakes a second thread to look for work whenever it
// readies a goroutine, and under contention both wait for the CPU, for what is one wait of
// the work; threads that wait at once wait for this machine's CPUs, so at most that many
// wait side by side. (The plain sum took a request that mostly waited on a callee for a
// fraction of its time.) Taking the wait out is not enough on its own: under contention
// an environment gets less CPU than its quota and is throttled less, so its wall time
// minus the wait is shorter than alone. Since is therefore at least the time the quota
// alone would take to give the CPU time the environment used, in one burst from a fresh
// period:
//
//	since = max(wall − wait, quota(cpu))
//
// With no quota (VCPU 0 or ≥ 1) the floor is the CPU time. The model is the same with and
// without cgroups, so durations follow VCPU even where the quota is not enforced. Measured
// on this project's 2-core machine (3 December 2026): work in bursts between sleeps at 0.29
// and 0.58 vCPU took 0.96–0.99 of its wall time alone, and 0.71–0.98 of its time alone
// beside 8 busy environments (its waits are on timers, and a Go runtime's sysmon thread
// wakes with every timer and waits beside the work's two threads: three waits on two
// CPUs count half a wait too many); CPU-bound work at 0.25 vCPU 0.85–1.04 of its time alone
// (TestSinceOfWorkBetweenSleepsDoesNotDependOnMachineLoad,
// TestSinceDoesNotDependOnMachineLoad).
//
// A mark is taken twice per request, so it reads kept-open files with pread and does not
// allocate; the thread list is read again only when the thread count changes.
//
// Usage:
//
//	env, err := sandbox.Start(ctx, sandbox.Spec{
//		Name:   "fn-1-env-3",
//		Path:   "/srv/fn/bootstrap",
//		Env:    []string{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"},
//		Limits: sandbox.Limits{VCPU: 128 / 1769.0, MemoryMB: 128},
//		Stdout: logs, Stderr: logs,
//	})
//	if err != nil { ... }
//	defer env.Stop(context.Background())
//	m := env.Mark()
//	... // let the environment work
//	took := env.Since(m)
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrOutOfMemory is matched (errors.Is) by [Env.Err] when the memory limit killed the
// environment.
var ErrOutOfMemory = errors.New("sandbox: out of memory")

// Limits are what an environment may use.
type Limits struct {
	// VCPU is the share of one CPU, e.g. 128/1769.0 for a 128 MB Lambda; 0 = unlimited.
	VCPU float64
	// MemoryMB is the memory limit in MiB; 0 = unlimited.
	MemoryMB int
}

// Spec describes one environment.
type Spec struct {
	Name           string // unique among live environments; names the cgroup
	Path           string // executable
	Args, Env      []string
	Dir            string
	Limits         Limits
	Stdout, Stderr io.Writer // nil discards
}

// CFSPeriod is the CPU quota period; the quota is VCPU × CFSPeriod, at least MinQuota.
const (
	CFSPeriod = 100 * time.Millisecond
	MinQuota  = time.Millisecond
)

// Env is one running environment. Its methods are safe for concurrent use.
type Env struct {
	spec Spec
	cmd  *exec.Cmd
	pid  int
	cg   *cgroup // nil in the fallback
	ctr  *counters

	done    chan struct{}
	err     error
	oomSeen atomic.Bool   // fallback: the poller killed it
	peak    atomic.Uint64 // fallback: peak of summed VmHWM/VmRSS

	stopMu  sync.Mutex
	stopped bool
	stopErr error
}

// Start starts the environment. ctx bounds the start only; the environment lives until it
// exits or [Env.Stop] ends it. On failure nothing is left behind (process or cgroup).
func Start(ctx context.Context, s Spec) (*Env, error) {
	if s.Name == "" || s.Path == "" {
		return nil, fmt.Errorf("sandbox: start: Name and Path are required (name %q, path %q)", s.Name, s.Path)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sandbox: start %q: %w", s.Name, err)
	}
	if fi, err := os.Stat(s.Path); err != nil {
		return nil, fmt.Errorf("sandbox: start %q: %w", s.Name, err)
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("sandbox: start %q: %s is not an executable file", s.Name, s.Path)
	}
	e := &Env{spec: s, done: make(chan struct{})}
	sup := Supported()
	useCgroup := sup.CPUQuota || sup.MemoryLimit
	var gate *os.File
	var cmd *exec.Cmd
	if useCgroup {
		cg, err := newCgroup(s.Name, s.Limits, sup)
		if err != nil {
			return nil, fmt.Errorf("sandbox: start %q: %w", s.Name, err)
		}
		e.cg = cg
		// The child waits on fd 3 until it is in its cgroups, then execs the program in
		// place (same PID), so none of the program runs outside its limits.
		r, w, err := os.Pipe()
		if err != nil {
			cg.remove()
			return nil, fmt.Errorf("sandbox: start %q: %w", s.Name, err)
		}
		gate = w
		cmd = exec.Command("/bin/sh", append([]string{"-c", `read _ <&3; exec 3<&-; exec "$0" "$@"`, s.Path}, s.Args...)...)
		cmd.ExtraFiles = []*os.File{r}
		defer r.Close()
	} else {
		cmd = exec.Command(s.Path, s.Args...)
	}
	cmd.Env = s.Env
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	fail := func(err error) (*Env, error) {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
		if gate != nil {
			gate.Close()
		}
		if e.ctr != nil {
			e.ctr.close()
		}
		if e.cg != nil {
			e.cg.remove()
		}
		return nil, fmt.Errorf("sandbox: start %q: %w", s.Name, err)
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	e.cmd, e.pid = cmd, cmd.Process.Pid
	e.ctr = newCounters(e.pid, e.cg)
	if e.cg != nil {
		if err := e.cg.add(e.pid); err != nil {
			return fail(err)
		}
		if _, err := gate.Write([]byte("\n")); err != nil {
			return fail(err)
		}
		gate.Close()
	}
	go e.wait()
	if e.cg == nil || e.cg.mem == "" {
		go e.pollMemory(uint64(s.Limits.MemoryMB) << 20)
	}
	return e, nil
}

func (e *Env) wait() {
	err := e.cmd.Wait()
	var ee *exec.ExitError
	killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() &&
		ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	switch {
	case e.oomSeen.Load():
		err = fmt.Errorf("%w: environment %q over its %d MB (%v)", ErrOutOfMemory, e.spec.Name, e.spec.Limits.MemoryMB, err)
	case e.cg != nil && e.cg.oomKilled(killed):
		err = fmt.Errorf("%w: environment %q over its %d MB (%v)", ErrOutOfMemory, e.spec.Name, e.spec.Limits.MemoryMB, err)
	case err != nil:
		err = fmt.Errorf("sandbox: environment %q: %w", e.spec.Name, err)
	}
	e.err = err
	close(e.done)
}

// PID is the environment's main process id (also its process group id).
func (e *Env) PID() int { return e.pid }

// Done is closed when the main process has exited.
func (e *Env) Done() <-chan struct{} { return e.done }

// Err tells, after Done, why the process exited: nil for exit status 0, an error matching
// [ErrOutOfMemory] when the memory limit killed it.
func (e *Env) Err() error {
	select {
	case <-e.done:
		return e.err
	default:
		return nil
	}
}

// MaxMemoryBytes is the environment's peak memory since start: the cgroup's max usage, or in
// the fallback the peak of the process group's summed resident set.
func (e *Env) MaxMemoryBytes() uint64 {
	if e.cg != nil && e.cg.mem != "" {
		if v, ok := e.ctr.maxUsage(); ok {
			return v
		}
		if v, ok := e.cg.maxUsage(); ok {
			return v
		}
	}
	e.sampleMemory(0)
	return e.peak.Load()
}

// Stop ends the environment: SIGTERM to its process group, SIGKILL when ctx ends, then it
// reaps the process and removes its cgroups. Stop is idempotent; later calls return the
// first call's result.
func (e *Env) Stop(ctx context.Context) error {
	e.stopMu.Lock()
	defer e.stopMu.Unlock()
	if e.stopped {
		return e.stopErr
	}
	e.stopped = true
	select {
	case <-e.done:
	default:
		_ = syscall.Kill(-e.pid, syscall.SIGTERM)
		select {
		case <-e.done:
		case <-ctx.Done():
			_ = syscall.Kill(-e.pid, syscall.SIGKILL)
			<-e.done
		}
	}
	// Whatever the main process left in its group or cgroup goes too.
	_ = syscall.Kill(-e.pid, syscall.SIGKILL)
	e.ctr.close()
	if e.cg != nil {
		if err := e.cg.remove(); err != nil {
			e.stopErr = fmt.Errorf("sandbox: stop %q: %w", e.spec.Name, err)
		}
	}
	return e.stopErr
}
