package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newHost(t testing.TB, cfg host.Config, tasks map[string]string) *host.Host {
	t.Helper()
	ctx := context.Background()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = cacheDir
	}
	h, err := host.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	for name, path := range tasks {
		if err := h.LoadFile(ctx, name, path, ""); err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
	}
	return h
}

func TestInvokeEcho(t *testing.T) {
	h := newHost(t, host.Config{}, map[string]string{"echo": wat("echo")})
	for _, in := range []string{"", "hello", strings.Repeat("x", 200_000)} {
		out, err := h.Invoke(context.Background(), "echo", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != in {
			t.Fatalf("echo of %d bytes returned %d bytes", len(in), len(out))
		}
	}
}

func TestFusedCallBetweenWATTasks(t *testing.T) {
	rec := span.NewBuffer(100)
	h := newHost(t, host.Config{Recorder: rec, Name: "h1", Group: "g"}, map[string]string{"caller": wat("caller"), "echo": wat("echo")})
	out, err := h.Invoke(context.Background(), "caller", []byte("ping"))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "ping" {
		t.Fatalf("got %q", out)
	}
	spans := rec.Drain()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	callee, caller := spans[0], spans[1]
	if callee.Task != "echo" || caller.Task != "caller" {
		t.Fatalf("span order: %s, %s", callee.Task, caller.Task)
	}
	if callee.TraceID != caller.TraceID || callee.ParentID != caller.ID || callee.Caller != "caller" || caller.Caller != "" {
		t.Fatalf("spans not linked: %+v / %+v", caller, callee)
	}
	if callee.Remote || callee.Async || caller.Wait <= 0 || caller.Wait > caller.Duration {
		t.Fatalf("unexpected span fields: %+v / %+v", caller, callee)
	}
	if callee.Host != "h1" || callee.Group != "g" {
		t.Fatalf("host/group: %+v", callee)
	}
}

func TestResultLargerThanCallerBufferIsHeld(t *testing.T) {
	// caller.wat offers a 62 KiB result buffer; a larger result is held by
	// the host and the WAT caller reports failure, the Go SDK grows instead.
	h := newHost(t, host.Config{}, map[string]string{"gcaller": goGuest(t, "gcaller"), "gecho": goGuest(t, "gecho")})
	in := bytes.Repeat([]byte("0123456789abcdef"), 10_000) // 160 KB > the SDK's 64 KiB buffer
	out, err := h.Invoke(context.Background(), "gcaller", in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("got %d bytes, want %d", len(out), len(in))
	}
}

func TestGoTasks(t *testing.T) {
	h := newHost(t, host.Config{}, map[string]string{
		"gecho": goGuest(t, "gecho"), "gcaller": goGuest(t, "gcaller"), "gkv": goGuest(t, "gkv"),
	})
	ctx := context.Background()
	cases := []struct{ task, in, want string }{
		{"gecho", "abc", "abc"},
		{"gcaller", "fused", "fused"},
		{"gkv", "stored value", "stored value"},
		{"gkv", "missing", "absent"},
	}
	for _, c := range cases {
		out, err := h.Invoke(ctx, c.task, []byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.task, err)
		}
		if string(out) != c.want {
			t.Fatalf("%s(%q) = %q, want %q", c.task, c.in, out, c.want)
		}
	}
}

func TestParallelSyncCallsOverlap(t *testing.T) {
	rec := span.NewBuffer(100)
	h := newHost(t, host.Config{Recorder: rec}, map[string]string{"gpar": goGuest(t, "gpar"), "gsleep": goGuest(t, "gsleep")})
	out, err := h.Invoke(context.Background(), "gpar", []byte("50"))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "slept+slept" {
		t.Fatalf("got %q", out)
	}
	var sleeps []span.Span
	for _, s := range rec.Drain() {
		if s.Task == "gsleep" {
			sleeps = append(sleeps, s)
		}
	}
	if len(sleeps) != 2 {
		t.Fatalf("got %d gsleep spans", len(sleeps))
	}
	a, b := sleeps[0], sleeps[1]
	// Overlap: each started before the other ended.
	if !a.Start.Before(b.Start.Add(b.Duration)) || !b.Start.Before(a.Start.Add(a.Duration)) {
		t.Fatalf("parallel calls did not overlap: %v+%v and %v+%v", a.Start, a.Duration, b.Start, b.Duration)
	}
}

func TestBadModules(t *testing.T) {
	garbage := t.TempDir() + "/garbage.wasm"
	if err := os.WriteFile(garbage, []byte("\x00asm but not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		want       error
		msg        string
	}{
		{"garbage", garbage, host.ErrBadModule, "garbage.wasm"},
		{"command module", wat("command"), host.ErrBadModule, "not a reactor"},
		{"missing export", wat("nohandle"), host.ErrBadModule, "missing export fusionize_handle"},
		{"wrong export type", wat("wrongtype"), host.ErrBadModule, "fusionize_handle has type (i32) -> (i32), want (i32, i32) -> (i32)"},
		{"unknown import", wat("badimport"), host.ErrBadModule, `unknown module "env"`},
		{"ABI version mismatch", wat("badabi"), host.ErrABIVersion, "ABI version 2, host speaks 1"},
		{"missing file", "testdata/nope.wasm", os.ErrNotExist, "nope.wasm"},
	}
	h := newHost(t, host.Config{}, map[string]string{"echo": wat("echo")})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := h.LoadFile(context.Background(), "bad", c.path, "")
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
		})
	}
	if out, err := h.Invoke(context.Background(), "echo", []byte("still serving")); err != nil || string(out) != "still serving" {
		t.Fatalf("host stopped serving: %q %v", out, err)
	}
}

func TestLoadChecksDigest(t *testing.T) {
	h := newHost(t, host.Config{}, nil)
	wasm, err := os.ReadFile(wat("echo"))
	if err != nil {
		t.Fatal(err)
	}
	bad := "sha256:" + strings.Repeat("0", 64)
	if err := h.Load(context.Background(), "echo", wasm, bad); !errors.Is(err, host.ErrDigest) {
		t.Fatalf("got %v, want ErrDigest", err)
	}
	if err := h.Load(context.Background(), "echo", wasm, host.Digest(wasm)); err != nil {
		t.Fatal(err)
	}
	if err := h.Load(context.Background(), "echo", wasm, ""); !errors.Is(err, host.ErrDuplicate) {
		t.Fatalf("second load: got %v, want ErrDuplicate", err)
	}
	if err := h.Load(context.Background(), "bad name!", wasm, ""); !errors.Is(err, host.ErrInvalidTask) {
		t.Fatalf("bad name: got %v", err)
	}
}

// assertServing checks that the host still answers after a failure.
func assertServing(t *testing.T, h *host.Host) {
	t.Helper()
	out, err := h.Invoke(context.Background(), "echo", []byte("alive"))
	if err != nil || string(out) != "alive" {
		t.Fatalf("host stopped serving: %q, %v", out, err)
	}
}

func TestFailuresNameTheTaskAndKeepServing(t *testing.T) {
	h := newHost(t, host.Config{MemoryLimitPages: 1024, MaxPayload: 1 << 20, Name: "h1"}, map[string]string{
		"echo": wat("echo"), "trap": wat("trap"), "loop": wat("loop"), "grow": wat("grow"), "big": wat("big"),
		"gpanic": goGuest(t, "gpanic"), "ghog": goGuest(t, "ghog"), "caller": wat("caller"),
	})
	cases := []struct {
		name, task, in string
		timeout        time.Duration
		want           error
		msg            string
	}{
		{"trap", "trap", "", 0, host.ErrFailed, `task "trap" on host h1: trapped in fusionize_handle`},
		{"go panic", "gpanic", "panic", 0, host.ErrFailed, "panic: assignment to entry in nil map"},
		{"endless loop", "loop", "", 200 * time.Millisecond, host.ErrDeadline, `task "loop" on host h1: stopped by its deadline`},
		{"memory without bound (wat)", "grow", "", 0, host.ErrFailed, `task "grow"`},
		{"memory without bound (go)", "ghog", "", 0, host.ErrFailed, `task "ghog" on host h1: out of memory`},
		{"output over the limit", "big", "", 0, host.ErrTooLarge, "output of 2097152 bytes exceeds the payload limit of 1048576 bytes"},
		{"input over the limit", "echo", strings.Repeat("x", 1<<20+1), 0, host.ErrTooLarge, "input of 1048577 bytes"},
		{"unknown task", "nope", "", 0, host.ErrUnknownTask, `task "nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			if c.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.timeout)
				defer cancel()
			}
			for range 2 { // the second time runs on a fresh instance
				_, err := h.Invoke(ctx, c.task, []byte(c.in))
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v, want %v", err, c.want)
				}
				if !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("error %q does not say %q", err, c.msg)
				}
				if c.timeout > 0 {
					break
				}
			}
			assertServing(t, h)
		})
	}
	st := h.Stats()
	if st.Traps < 4 || st.Deadlines < 1 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestCallerSeesCalleeFailure(t *testing.T) {
	h := newHost(t, host.Config{}, map[string]string{"caller": wat("caller")})
	_, err := h.Invoke(context.Background(), "caller", []byte("x"))
	if !errors.Is(err, host.ErrFailed) || !strings.Contains(err.Error(), `task "echo"`) || !strings.Contains(err.Error(), "no such task") {
		t.Fatalf("got %v", err)
	}
}

func TestCallCycleEndsAtMaxDepth(t *testing.T) {
	h := newHost(t, host.Config{MaxDepth: 16}, map[string]string{"a": wat("relay"), "b": wat("relay")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := h.Invoke(ctx, "a", []byte("ab"))
	if err == nil || !strings.Contains(err.Error(), "exceeds the maximum call depth of 16") {
		t.Fatalf("got %v", err)
	}
	if errors.Is(err, host.ErrDeadline) {
		t.Fatalf("cycle ran into the deadline instead of the depth limit: %v", err)
	}
}

func TestAsyncCallsAreTrackedAndDrained(t *testing.T) {
	rec := span.NewBuffer(100)
	ctx := context.Background()
	h, err := host.New(ctx, host.Config{Recorder: rec, Logger: quiet, CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"fanout": wat("fanout"), "trap": wat("trap"), "gsleep": goGuest(t, "gsleep")} {
		if err := h.LoadFile(ctx, name, path, ""); err != nil {
			t.Fatal(err)
		}
	}
	out, err := h.Invoke(ctx, "fanout", []byte("trap"))
	if err != nil || string(out) != "accepted" {
		t.Fatalf("fanout: %q %v", out, err)
	}
	if _, err := h.Serve(ctx, host.Call{Task: "gsleep", Input: []byte("100"), Async: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Invoke(ctx, "fanout", []byte("nope")); !errors.Is(err, host.ErrFailed) {
		t.Fatalf("async call of an unknown task: got %v", err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := h.Stats()
	if st.AsyncAccepted != 2 || st.AsyncFailed != 1 || st.AsyncInflight != 0 {
		t.Fatalf("stats after drain: %+v", st)
	}
	var slept, trapped bool
	for _, s := range rec.Drain() {
		switch {
		case s.Task == "gsleep" && s.Async && s.Err == "":
			slept = true
		case s.Task == "trap" && s.Async && s.Caller == "fanout" && strings.Contains(s.Err, "trapped"):
			trapped = true
		}
	}
	if !slept || !trapped {
		t.Fatalf("missing async spans: slept=%v trapped=%v", slept, trapped)
	}
	if _, err := h.Invoke(ctx, "gsleep", []byte("1")); !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("invoke after close: %v", err)
	}
}

// inProcess is a test transport: it hands calls to another host's Serve,
// as a network transport's server would.
type inProcess map[string]*host.Host

func (p inProcess) Invoke(ctx context.Context, to host.Target, c host.Call) ([]byte, error) {
	h, ok := p[to.Endpoint.Address]
	if !ok {
		return nil, &host.Error{Task: c.Task, Code: host.CodeUnavailable, Msg: "no host for group " + to.Group}
	}
	c.Remote = true
	return h.Serve(ctx, c)
}

func TestRoutingFollowsTheSetup(t *testing.T) {
	peers := inProcess{}
	rec := span.NewBuffer(100)
	tasks := map[string]string{"caller": wat("caller"), "echo": wat("echo")}
	sep := setup.Separate(1, []string{"caller", "echo"}, setup.Place{Provider: "local"}, 128)
	for _, g := range []string{"caller", "echo"} {
		eps := host.StaticEndpoints{"caller": {Kind: "test", Address: "caller"}, "echo": {Kind: "test", Address: "echo"}}
		h := newHost(t, host.Config{Name: "host-" + g, Group: g, Transport: peers, Endpoints: eps, Recorder: rec},
			map[string]string{g: tasks[g]})
		if err := h.SetSetup(sep); err != nil {
			t.Fatal(err)
		}
		peers[g] = h
	}
	fused := newHost(t, host.Config{Group: "all"}, tasks)
	want, err := fused.Invoke(context.Background(), "caller", []byte("routed"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := peers["caller"].Invoke(context.Background(), "caller", []byte("routed"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("remote result %q differs from fused %q", got, want)
	}
	var remote bool
	for _, s := range rec.Drain() {
		if s.Task == "echo" && s.Remote && s.Host == "host-echo" && s.Caller == "caller" && s.SetupVersion == 1 {
			remote = true
		}
	}
	if !remote {
		t.Fatal("no remote span for echo")
	}
	// An entry request for a task of another group is forwarded.
	if out, err := peers["echo"].Invoke(context.Background(), "caller", []byte("fwd")); err != nil || string(out) != "fwd" {
		t.Fatalf("forwarded entry: %q %v", out, err)
	}
	// A dead peer: the caller gets Unavailable naming the task.
	delete(peers, "echo")
	_, err = peers["caller"].Invoke(context.Background(), "caller", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), `task "echo"`) || !strings.Contains(err.Error(), "no host for group echo") {
		t.Fatalf("dead peer: %v", err)
	}
}

func TestHammer(t *testing.T) {
	h := newHost(t, host.Config{PoolSize: 4}, map[string]string{
		"caller": wat("caller"), "echo": wat("echo"), "gcaller": goGuest(t, "gcaller"), "gecho": goGuest(t, "gecho"),
	})
	const workers, calls = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				task := "caller"
				if (w+i)%2 == 0 {
					task = "gcaller"
				}
				in := fmt.Appendf(nil, "worker %d call %d %s", w, i, strings.Repeat("p", i*37))
				out, err := h.Invoke(context.Background(), task, in)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(out, in) {
					errs <- fmt.Errorf("%s: got %q, want %q", task, out, in)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := h.Stats(); st.Failures != 0 {
		t.Fatalf("failures under load: %+v", st)
	}
}

func TestRemoteCallWithoutARecordedEndpointIsUnavailable(t *testing.T) {
	sep := setup.Separate(1, []string{"caller", "echo"}, setup.Place{Provider: "local"}, 128)
	peers := inProcess{}
	h := newHost(t, host.Config{Name: "host-caller", Group: "caller", Transport: peers, Endpoints: host.StaticEndpoints{}},
		map[string]string{"caller": wat("caller")})
	if err := h.SetSetup(sep); err != nil {
		t.Fatal(err)
	}
	_, err := h.Invoke(context.Background(), "caller", []byte("x"))
	if !errors.Is(err, host.ErrFailed) || !strings.Contains(err.Error(), `no endpoint recorded for group "echo"`) {
		t.Fatalf("err = %v, want the caller failing on echo's missing endpoint", err)
	}
	_, err = h.Serve(context.Background(), host.Call{Task: "echo", Caller: "x"})
	if host.CodeOf(err) != host.CodeUnavailable {
		t.Fatalf("forwarded call without an endpoint: %v (code %d), want CodeUnavailable", err, host.CodeOf(err))
	}
}

func TestFirstRequestOfANewHostIsCold(t *testing.T) {
	rec := span.NewBuffer(16)
	h := newHost(t, host.Config{Recorder: rec}, map[string]string{"echo": wat("echo")})
	for range 2 {
		if _, err := h.Invoke(context.Background(), "echo", nil); err != nil {
			t.Fatal(err)
		}
	}
	spans := rec.Drain()
	if len(spans) != 2 || !spans[0].Cold || spans[1].Cold {
		t.Fatalf("spans %+v: want the first cold, the second warm", spans)
	}
	if st := h.Stats(); st.ColdStarts != 1 {
		t.Errorf("ColdStarts = %d, want 1", st.ColdStarts)
	}
}
