package local_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/adaptertest"
	"github.com/fusionize/fusionize/adapters/local"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/host"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
)

// TestAdapter runs the conformance suite against host processes of the
// built fusionize binary.
func TestAdapter(t *testing.T) {
	env := adaptertest.NewEnv(t)
	env.DeployTimeout = 30 * time.Second
	env.Leftovers = leftovers
	adaptertest.Run(t, func(t *testing.T) adapters.Adapter { return newFixture(t, nil).a }, env)
}

// fixture is a local adapter whose log is kept, and the host PIDs a test
// saw, which must all be gone once the adapter is closed.
type fixture struct {
	a    *local.Adapter
	dir  string
	logs *syncBuffer

	mu   sync.Mutex
	pids []int
}

func newFixture(t *testing.T, tune func(*local.Options)) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), logs: &syncBuffer{}}
	opts := local.Options{
		Command:      hostCommand(),
		Dir:          f.dir,
		StartTimeout: 30 * time.Second,
		DrainTimeout: 10 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tune != nil {
		tune(&opts)
	}
	f.a = local.New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, pid := range f.pids {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("host process %d still exists after Close (kill 0: %v)", pid, err)
			}
		}
		if t.Failed() || testing.Verbose() {
			f.dump(t)
		}
	})
	return f
}

// dump logs the adapter's log and every host log.
func (f *fixture) dump(t *testing.T) {
	t.Logf("adapter log:\n%s", f.logs.String())
	logs, _ := filepath.Glob(filepath.Join(f.dir, "logs", "*.log"))
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil {
			t.Logf("%s:\n%s", filepath.Base(l), lastLines(b, 40))
		}
	}
}

func lastLines(b []byte, n int) []byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}

func (f *fixture) deploy(t *testing.T, env adaptertest.Env, su *setup.Setup, group string) adapters.Endpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := env.Deployment(t, su, group)
	ep, err := f.a.Deploy(ctx, d)
	if err != nil {
		t.Fatalf("Deploy %s: %v", d.ID(), err)
	}
	f.pid(t, ep)
	return ep
}

// pid returns the PID of ep's host and remembers it for the final check.
func (f *fixture) pid(t *testing.T, ep adapters.Endpoint) int {
	t.Helper()
	pid, ok := f.a.PID(ep.Group, ep.Version)
	if !ok {
		t.Fatalf("PID(%s, %d): not deployed", ep.Group, ep.Version)
	}
	f.mu.Lock()
	f.pids = append(f.pids, pid)
	f.mu.Unlock()
	return pid
}

func newTransport(t *testing.T, env adaptertest.Env) *grpctransport.Transport {
	t.Helper()
	tr, err := grpctransport.NewTransport(grpctransport.Options{InvokeToken: env.InvokeToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func invoke(tr *grpctransport.Transport, ep adapters.Endpoint, task string, in []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return tr.Invoke(ctx, host.Target{Group: ep.Group, Endpoint: ep.Endpoint}, host.Call{Task: task, Input: in})
}

// TestKilledHostRestarts kills a host under load: calls in the gap fail
// with CodeUnavailable naming the task and the host's address, the adapter
// restarts the host on the same port, and calls succeed again.
func TestKilledHostRestarts(t *testing.T) {
	env := adaptertest.NewEnv(t)
	f := newFixture(t, nil)
	ep := f.deploy(t, env, env.Setup, adaptertest.GroupEcho)
	pid := f.pid(t, ep)
	tr := newTransport(t, env)

	const (
		workers  = 4
		maxCalls = 20_000 // per worker: bounds the load however fast the host is
		minLoad  = 2 * time.Second
	)
	var (
		ok, okAfterRestart, unavailable atomic.Int64
		restarted                       atomic.Bool
		lastFail                        atomic.Int64 // unix ns
		mu                              sync.Mutex
		samples                         []string // some CodeUnavailable errors
		wrong                           []string // any other outcome
		wg                              sync.WaitGroup
		stop                            = make(chan struct{})
	)
	for w := range workers {
		wg.Go(func() {
			for i := range maxCalls {
				select {
				case <-stop:
					return
				default:
				}
				in := fmt.Appendf(nil, "worker %d call %d", w, i)
				out, err := invoke(tr, ep, "echo", in)
				var he *host.Error
				switch {
				case err == nil && bytes.Equal(out, in):
					ok.Add(1)
					if restarted.Load() {
						okAfterRestart.Add(1)
					}
				case err == nil:
					mu.Lock()
					wrong = append(wrong, fmt.Sprintf("echo(%q) = %q", in, out))
					mu.Unlock()
				case errors.As(err, &he) && he.Code == host.CodeUnavailable &&
					strings.Contains(err.Error(), `"echo"`) && strings.Contains(err.Error(), ep.Endpoint.Address):
					lastFail.Store(time.Now().UnixNano())
					if unavailable.Add(1) <= 5 {
						mu.Lock()
						samples = append(samples, err.Error())
						mu.Unlock()
					}
				default:
					mu.Lock()
					wrong = append(wrong, fmt.Sprintf("%T %v", err, err))
					mu.Unlock()
				}
			}
		})
	}
	start := time.Now()
	time.Sleep(300 * time.Millisecond)
	okBefore := ok.Load()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	killed := time.Now()

	// The adapter starts a new process and waits for it to be healthy;
	// calls succeed again once it is.
	var newPID int
	for deadline := time.Now().Add(20 * time.Second); ; {
		if p, ok := f.a.PID(ep.Group, ep.Version); ok && p != pid {
			newPID = p
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatal("no new host process 20 s after the kill")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.pid(t, ep)
	restarted.Store(true)
	for deadline := time.Now().Add(20 * time.Second); okAfterRestart.Load() < 100 || time.Since(start) < minLoad; {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	t.Logf("%d calls ok (%d before the kill, %d after the restart), %d failed with CodeUnavailable; %d other outcomes; pid %d → %d; load ran %s; the last failure %s after the kill",
		ok.Load(), okBefore, okAfterRestart.Load(), unavailable.Load(), len(wrong), pid, newPID, time.Since(start).Round(time.Millisecond),
		time.Unix(0, lastFail.Load()).Sub(killed).Round(time.Millisecond))
	for _, s := range samples {
		t.Logf("  e.g. %s", s)
	}
	if len(wrong) > 0 {
		t.Errorf("%d calls failed otherwise than with CodeUnavailable naming the task and %s, e.g.:\n%s", len(wrong), ep.Endpoint.Address, strings.Join(wrong[:min(len(wrong), 10)], "\n"))
	}
	if okBefore == 0 {
		t.Error("no call succeeded before the kill")
	}
	if unavailable.Load() == 0 {
		t.Error("no call failed while the host was down: was it killed?")
	}
	if okAfterRestart.Load() == 0 {
		t.Error("no call succeeded after the restart")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("killed process %d still exists (kill 0: %v)", pid, err)
	}
	eps, err := f.a.List(context.Background())
	if err != nil || len(eps) != 1 || eps[0] != ep {
		t.Fatalf("List after the restart = %+v, %v; want [%+v] (same ports)", eps, err, ep)
	}
	if out, err := invoke(tr, ep, "echo", []byte("after")); err != nil || string(out) != "after" {
		t.Fatalf("echo after the restart = %q, %v", out, err)
	}
}

// TestRemoveDrains removes a host while a slow call runs on it: the call
// finishes, new client requests are refused meanwhile, and the process is
// gone once Remove returns.
func TestRemoveDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go guest; skipped with -short")
	}
	wasm, err := gsleepWasm()
	if err != nil {
		t.Fatal(err)
	}
	env := adaptertest.NewEnv(t)
	b, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	env.Upload(t, "gsleep", b)
	su := env.Apply(t, setup.Group{Name: "sleepy", Tasks: []string{"gsleep"}})
	f := newFixture(t, nil)
	ep := f.deploy(t, env, su, "sleepy")
	pid := f.pid(t, ep)
	tr := newTransport(t, env)

	const sleep = 1500 * time.Millisecond
	type result struct {
		out []byte
		err error
	}
	slow := make(chan result, 1)
	go func() {
		out, err := invoke(tr, ep, "gsleep", []byte(fmt.Sprint(sleep.Milliseconds())))
		slow <- result{out, err}
	}()
	time.Sleep(300 * time.Millisecond) // the call is running
	removeStart := time.Now()
	removed := make(chan error, 1)
	go func() { removed <- f.a.Remove(context.Background(), ep.Group, ep.Version) }()

	time.Sleep(300 * time.Millisecond) // the host is draining
	if _, err := invoke(tr, ep, "gsleep", []byte("0")); !errors.Is(err, host.ErrUnavailable) {
		t.Errorf("new request while draining: %v, want CodeUnavailable", err)
	} else {
		t.Logf("new request while draining: %v", err)
	}

	r := <-slow
	if r.err != nil || string(r.out) != "slept" {
		t.Fatalf("the call in flight during Remove = %q, %v; want \"slept\"", r.out, r.err)
	}
	if err := <-removed; err != nil {
		t.Fatalf("Remove: %v", err)
	}
	took := time.Since(removeStart)
	t.Logf("Remove took %s while a %s call ran", took.Round(time.Millisecond), sleep)
	if took < sleep-600*time.Millisecond {
		t.Errorf("Remove returned after %s, before the call in flight could have finished", took)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("host process %d exists after Remove (kill 0: %v)", pid, err)
	}
}

// TestRemoveKillsAfterDrainTimeout removes a host whose call never ends:
// Remove kills it after DrainTimeout and says so, and the group is gone.
func TestRemoveKillsAfterDrainTimeout(t *testing.T) {
	env := adaptertest.NewEnv(t)
	const drain = time.Second
	f := newFixture(t, func(o *local.Options) { o.DrainTimeout = drain })
	ep := f.deploy(t, env, env.Setup, adaptertest.GroupLoop)
	pid := f.pid(t, ep)
	tr := newTransport(t, env)

	looping := make(chan error, 1)
	go func() {
		_, err := invoke(tr, ep, "loop", nil)
		looping <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	err := f.a.Remove(context.Background(), ep.Group, ep.Version)
	took := time.Since(start)
	t.Logf("Remove after %s: %v", took.Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), "did not drain") {
		t.Errorf("Remove = %v, want an error saying the host did not drain", err)
	}
	if took < drain || took > drain+5*time.Second {
		t.Errorf("Remove took %s with DrainTimeout %s", took, drain)
	}
	if err := <-looping; !errors.Is(err, host.ErrUnavailable) {
		t.Errorf("the call cut off by the kill: %v, want CodeUnavailable", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("host process %d exists after Remove (kill 0: %v)", pid, err)
	}
	if eps, _ := f.a.List(context.Background()); len(eps) != 0 {
		t.Errorf("List after Remove = %+v", eps)
	}
}

// TestCrashingHostGivenUp runs a host whose restarts all crash at once
// (testdata/crashonce.sh): the adapter tries MaxRestarts times, then gives
// up and says so, and Remove still cleans up.
func TestCrashingHostGivenUp(t *testing.T) {
	env := adaptertest.NewEnv(t)
	const maxRestarts = 3
	starts := filepath.Join(t.TempDir(), "starts")
	f := newFixture(t, func(o *local.Options) {
		o.Command = append([]string{"/bin/sh", "testdata/crashonce.sh", starts}, hostCommand()...)
		o.MaxRestarts = maxRestarts
	})
	ep := f.deploy(t, env, env.Setup, adaptertest.GroupEcho)
	pid := f.pid(t, ep)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(f.logs.String(), "giving up"); {
		if time.Now().After(deadline) {
			t.Fatalf("the adapter did not give up within 20 s; log:\n%s", f.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // no further attempt
	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 1+maxRestarts {
		t.Errorf("the host command ran %d times, want 1 + MaxRestarts = %d", n, 1+maxRestarts)
	}
	if left := leftovers(); len(left) > 0 {
		t.Errorf("processes after giving up:\n%s", strings.Join(left, "\n"))
	}
	if eps, _ := f.a.List(context.Background()); len(eps) != 0 {
		t.Errorf("List shows a group that was given up: %+v", eps)
	}
	if err := f.a.Remove(context.Background(), ep.Group, ep.Version); err != nil {
		t.Errorf("Remove of a given-up group: %v", err)
	}
	if eps, _ := f.a.List(context.Background()); len(eps) != 0 {
		t.Errorf("List after Remove = %+v", eps)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for the
// adapter's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFailedStartKillsProcessGroup deploys a host command that leaves a
// child behind and exits before it is ready: the adapter reports
// ErrUnhealthy and kills the whole process group, not just the process.
func TestFailedStartKillsProcessGroup(t *testing.T) {
	env := adaptertest.NewEnv(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	f := newFixture(t, func(o *local.Options) { o.Command = []string{"/bin/sh", "testdata/orphan.sh", pidFile} })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := f.a.Deploy(ctx, env.Deployment(t, env.Setup, adaptertest.GroupEcho))
	if !errors.Is(err, adapters.ErrUnhealthy) {
		t.Fatalf("Deploy: %v, want ErrUnhealthy", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pgid int
	if _, err := fmt.Sscan(string(b), &pgid); err != nil || pgid <= 1 {
		t.Fatalf("pid file %q: %v", b, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	for deadline := time.Now().Add(5 * time.Second); ; {
		left := group(pgid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of the failed host's group %d still run: %v", pgid, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// group lists the live (not zombie) processes of process group pgid.
func group(pgid int) []string {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		// After the command: state, ppid, pgrp, …
		var state string
		var ppid, pgrp int
		if _, err := fmt.Sscan(string(b[i+1:]), &state, &ppid, &pgrp); err != nil {
			continue
		}
		if pgrp == pgid && state != "Z" {
			out = append(out, strings.TrimSpace(string(b[:i+1])))
		}
	}
	return out
}

// TestRejectsACloudPlace: the local adapter deploys only places of provider
// local; a group placed on aws is a bad deployment, named in the error.
func TestRejectsACloudPlace(t *testing.T) {
	env := adaptertest.NewEnv(t)
	d := env.Deployment(t, env.Setup, adaptertest.GroupEcho)
	d.Group.Place = setup.Place{Provider: "aws", Region: "us-east-1"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := newFixture(t, nil).a.Deploy(ctx, d)
	if !errors.Is(err, adapters.ErrInvalid) || !strings.Contains(err.Error(), "aws/us-east-1") {
		t.Fatalf("deploy at an aws place: %v, want ErrInvalid naming the place", err)
	}
}
