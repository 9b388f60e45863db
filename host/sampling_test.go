package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
)

// calls sums, per edge caller->task, the calls the spans stand for.
func calls(spans []span.Span) map[string]int {
	out := map[string]int{}
	for _, s := range spans {
		out[s.Caller+"->"+s.Task] += s.Calls()
	}
	return out
}

// spansOf returns the spans of task.
func spansOf(spans []span.Span, task string) []span.Span {
	var out []span.Span
	for _, s := range spans {
		if s.Task == task {
			out = append(out, s)
		}
	}
	return out
}

// Under sampling every call inside the module is counted: the first call
// of the edge and 1 in N after it have spans of their own, the others one
// aggregate span whose Count says how many, hung under the caller's span,
// with the sampled calls' mean duration and the counted calls' mean sizes.
// N = 1 is every call exact.
func TestFusedCallsAreCountedExactlyUnderSampling(t *testing.T) {
	const k = 200
	for _, every := range []int{1, 2, 7, 0} {
		t.Run(fmt.Sprintf("every %d", every), func(t *testing.T) {
			rec := span.NewBuffer(1 << 10)
			h := newHost(t, host.Config{Recorder: rec, SpanSampleEvery: every}, nil)
			if err := h.LoadFusedFile(context.Background(), []string{"gloop", "gecho"}, fusedGuest(t, "gloop", "gecho"), ""); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Invoke(context.Background(), "gloop", loopInput(k, kib)); err != nil {
				t.Fatal(err)
			}
			spans := rec.Drain()
			if got := calls(spans)["gloop->gecho"]; got != k {
				t.Fatalf("%d calls gloop->gecho recorded, want %d", got, k)
			}
			n := every
			if n == 0 {
				n = host.DefaultSpanSampleEvery
			}
			sampled := (k + n - 1) / n
			echo := spansOf(spans, "gecho")
			want := sampled
			if sampled < k {
				want++ // the aggregate
			}
			if len(echo) != want {
				t.Fatalf("%d gecho spans, want %d (%d sampled)", len(echo), want, sampled)
			}
			loop := spansOf(spans, "gloop")[0]
			if loop.Wait <= 0 || loop.Wait > loop.Duration {
				t.Errorf("gloop waited %v of %v", loop.Wait, loop.Duration)
			}
			for _, s := range echo {
				if s.ParentID != loop.ID || s.TraceID != loop.TraceID || s.Caller != "gloop" {
					t.Errorf("gecho span %+v does not hang under gloop's %d", s, loop.ID)
				}
				if s.Count > 1 && (s.Count != k-sampled || s.Duration <= 0 || s.InputBytes != len(kib) || s.OutputBytes != len(kib) || s.Err != "") {
					t.Errorf("aggregate %+v: want Count %d, a duration and 1 KiB each way", s, k-sampled)
				}
			}
		})
	}
}

// newRepeatHosts loads grepeat, gvia, gecho, gtrap and gpanic
// module-fused (default sampling) and instance-fused, with cfg.
func newRepeatHosts(t *testing.T, cfg host.Config) (fused, inst *host.Host, recF, recI *span.Buffer) {
	t.Helper()
	set := []string{"grepeat", "gvia", "gecho", "gtrap", "gpanic"}
	recF, recI = span.NewBuffer(1<<12), span.NewBuffer(1<<12)
	cfg.Name = "h"
	cfg.Recorder = recF
	fused = newHost(t, cfg, nil)
	if err := fused.LoadFusedFile(context.Background(), set, fusedGuest(t, set...), ""); err != nil {
		t.Fatal(err)
	}
	cfg.Recorder = recI
	tasks := map[string]string{}
	for _, n := range set {
		tasks[n] = goGuest(t, n)
	}
	return fused, newHost(t, cfg, tasks), recF, recI
}

// The limits hold on calls the guest only counts: a call past the maximum
// depth (a runaway recursion inside the module) or over the payload limit
// is refused with the words of a call through the host, call after call,
// and the counts of the calls that ran agree with instance fusion's. Each
// call of a recursion that ends in the depth limit fails, so each has a
// span of its own (a failed counted call is moved to one); the successful
// calls before the oversized ones are counted, in fewer spans.
func TestUnsampledCallsKeepTheLimits(t *testing.T) {
	if testing.Short() {
		// Hundreds of Go instances for the instance-fused recursion: under
		// the race detector their start outlasts the call's deadline.
		t.Skip("instantiates hundreds of Go task instances")
	}
	fused, inst, recF, recI := newRepeatHosts(t, host.Config{MaxPayload: 64 << 10})
	ctx := context.Background()
	for _, tc := range []struct {
		name, in, word string
		counted        bool
	}{
		{"runaway recursion", "20 gvia self\n", "exceeds the maximum call depth of 32", false},
		{"payload over the limit", "70 gecho #100\n5 gecho #70000\n", "input of 70000 bytes exceeds the payload limit of 65536 bytes", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outF, errF := fused.Invoke(ctx, "grepeat", []byte(tc.in))
			outI, errI := inst.Invoke(ctx, "grepeat", []byte(tc.in))
			if errF != nil || errI != nil {
				t.Fatalf("module-fused %v, instance-fused %v", errF, errI)
			}
			if string(outF) != string(outI) {
				t.Errorf("module-fused answered\n%s\ninstance-fused\n%s", outF, outI)
			}
			lines := strings.Split(strings.TrimSpace(string(outF)), "\n")
			refused := 0
			for _, l := range lines {
				if strings.HasPrefix(l, "err ") {
					refused++
					if !strings.Contains(l, tc.word) {
						t.Errorf("refusal %q lacks %q", l, tc.word)
					}
				}
			}
			if refused == 0 || refused != strings.Count(string(outI), "err ") {
				t.Errorf("%d calls refused module-fused (%d instance-fused)", refused, strings.Count(string(outI), "err "))
			}
			sf, si := recF.Drain(), recI.Drain()
			if tc.counted && len(sf) >= len(si) {
				t.Errorf("%d spans module-fused, %d instance-fused: no call was only counted", len(sf), len(si))
			}
			cf, ci := calls(sf), calls(si)
			if !maps(cf, ci) {
				t.Errorf("calls per edge: module-fused %v, instance-fused %v", cf, ci)
			}
		})
	}
}

func maps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A trap ends the instance mid-invocation: the calls counted before it are
// still recorded (the host reads the table before it discards the
// instance), beside the span of the call that trapped.
func TestTrapKeepsTheCallsCountedBeforeIt(t *testing.T) {
	fused, _, rec, _ := newRepeatHosts(t, host.Config{})
	_, err := fused.Invoke(context.Background(), "grepeat", []byte("150 gecho #10\n1 gtrap trap\n"))
	if err == nil || !strings.Contains(err.Error(), "gtrap") {
		t.Fatalf("err = %v, want gtrap's trap", err)
	}
	spans := rec.Drain()
	c := calls(spans)
	if c["grepeat->gecho"] != 150 || c["grepeat->gtrap"] != 1 {
		t.Errorf("calls per edge after the trap %v, want 150 to gecho and 1 to gtrap", c)
	}
	if tr := spansOf(spans, "gtrap"); len(tr) != 1 || tr[0].Err == "" {
		t.Errorf("gtrap spans %+v, want one failed", tr)
	}
}

// A trap inside a call the module only counted names the task that
// trapped, as a trap in a sampled call does.
func TestTrapInACountedCallNamesTheTask(t *testing.T) {
	fused, _, rec, _ := newRepeatHosts(t, host.Config{})
	_, err := fused.Invoke(context.Background(), "grepeat", []byte("3 gtrap ok\n1 gtrap trap\n"))
	var he *host.Error
	if !errors.As(err, &he) || he.Task != "gtrap" || !strings.Contains(err.Error(), `from task "grepeat"`) {
		t.Fatalf("err = %v, want gtrap's trap inside a call from grepeat", err)
	}
	if c := calls(rec.Drain()); c["grepeat->gtrap"] != 4 {
		t.Errorf("calls per edge %v, want 4 to gtrap", c)
	}
}

// A panic in a callee the module only counts (not the first call of its
// edge, not 1 in N) fails that call only, as a panic in a module of its
// own does: the caller gets a call error naming the callee and goes on
// calling, at the top and nested in another call inside the module; the
// failed calls have spans of their own with the error, every call is
// recorded, and the instance lives on.
func TestPanicInACountedCallIsThatCallsError(t *testing.T) {
	fused, inst, rec, _ := newRepeatHosts(t, host.Config{})
	in := "5 gpanic ok\n3 gpanic panic\n4 gpanic ok\n4 gvia gpanic:ok\n2 gvia gpanic:panic\n3 gvia gpanic:ok\n"
	want := []string{"ok", "ok", "ok", "ok", "ok", "err", "err", "err", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "err", "err", "ok", "ok", "ok"}
	const word = `call gpanic: task "gpanic" on host h: panic: assignment to entry in nil map`
	for _, h := range []*host.Host{fused, inst} {
		out, err := h.Invoke(context.Background(), "grepeat", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for l := range strings.Lines(string(out)) {
			switch {
			case strings.HasPrefix(l, "ok "):
				got = append(got, "ok")
			case strings.HasPrefix(l, "err "):
				got = append(got, "err")
				if !strings.Contains(l, word) {
					t.Errorf("error %q does not name gpanic's panic", l)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("calls answered %v, want %v", got, want)
		}
	}
	spans := rec.Drain()
	c := calls(spans)
	if c["grepeat->gpanic"] != 12 || c["grepeat->gvia"] != 9 || c["gvia->gpanic"] != 9 {
		t.Errorf("calls per edge %v, want 12 grepeat->gpanic, 9 grepeat->gvia, 9 gvia->gpanic", c)
	}
	failed := 0
	for _, s := range spansOf(spans, "gpanic") {
		if s.Err != "" {
			failed++
			if s.Count > 1 || !strings.Contains(s.Err, "panic: assignment to entry in nil map") {
				t.Errorf("failed gpanic span %+v", s)
			}
		}
	}
	if failed != 5 {
		t.Errorf("%d failed gpanic spans, want 5", failed)
	}
	if st := fused.Stats(); st.Traps != 0 || st.Instances != 1 {
		t.Errorf("module-fused: traps %d, instances %d: want 0 and 1", st.Traps, st.Instances)
	}
}

// A fused module without a span table (version 2 as it was first
// written, testdata/fusednotable.wat) keeps every call inside it exact,
// whatever the sampling.
func TestFusedModuleWithoutTableKeepsEveryCallExact(t *testing.T) {
	wasm, err := os.ReadFile("testdata/fusednotable.wasm")
	if err != nil {
		t.Fatal(err)
	}
	rec := span.NewBuffer(100)
	h := newHost(t, host.Config{Recorder: rec}, nil)
	if err := h.LoadFused(context.Background(), []string{"a", "b"}, wasm, ""); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if out, err := h.Invoke(context.Background(), "a", []byte("hi")); err != nil || string(out) != "hi" {
			t.Fatalf("%q, %v", out, err)
		}
	}
	spans := rec.Drain()
	b := spansOf(spans, "b")
	if len(b) != 3 || slices.ContainsFunc(b, func(s span.Span) bool { return s.Count != 0 || s.Caller != "a" }) {
		t.Errorf("b's spans %+v, want three exact ones called by a", b)
	}
}

// A span table the host cannot read fails the load, naming the module's
// tasks and what is wrong with it.
func TestFusedModuleWithABadTableIsRefused(t *testing.T) {
	wasm, err := os.ReadFile("testdata/fusedbadtable.wasm")
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, host.Config{}, nil)
	err = h.LoadFused(context.Background(), []string{"a", "b"}, wasm, "")
	if !errors.Is(err, host.ErrBadModule) || !strings.Contains(err.Error(), "fusionize_span_table") || !strings.Contains(err.Error(), "layout 7") {
		t.Fatalf("err = %v, want the table's layout refused", err)
	}
	if !strings.Contains(err.Error(), "a,b") {
		t.Errorf("err = %v does not name the module's tasks", err)
	}
	if len(h.Tasks()) != 0 {
		t.Errorf("tasks %v loaded after a refused module", h.Tasks())
	}
}
