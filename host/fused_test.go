package host_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
)

// fusedSet is the fused module most tests here load.
var fusedSet = []string{"gecho", "gcaller", "gpanic", "gtrap", "gvia"}

// newFusedHost loads fusedSet as one fused module, recording spans in rec.
func newFusedHost(t testing.TB, rec span.Recorder) *host.Host {
	t.Helper()
	h := newHost(t, host.Config{Name: "h", Recorder: rec}, nil)
	if err := h.LoadFusedFile(context.Background(), fusedSet, fusedGuest(t, fusedSet...), ""); err != nil {
		t.Fatal(err)
	}
	return h
}

// newInstanceHost loads the same tasks as one module each.
func newInstanceHost(t testing.TB, rec span.Recorder) *host.Host {
	t.Helper()
	tasks := map[string]string{}
	for _, n := range fusedSet {
		tasks[n] = goGuest(t, n)
	}
	return newHost(t, host.Config{Name: "h", Recorder: rec}, tasks)
}

func TestFusedModuleServesEachTaskByName(t *testing.T) {
	h := newFusedHost(t, nil)
	ctx := context.Background()
	if got := h.Tasks(); !slices.Equal(got, slices.Sorted(slices.Values(fusedSet))) {
		t.Fatalf("tasks %v, want %v", got, fusedSet)
	}
	for _, n := range []string{"gecho", "gcaller", "gpanic", "gtrap"} {
		out, err := h.Invoke(ctx, n, []byte("hi "+n))
		if err != nil || string(out) != "hi "+n {
			t.Errorf("%s: %q, %v", n, out, err)
		}
	}
	// One instance served them all, the call gcaller→gecho included: it
	// stayed inside the instance.
	if n := h.Stats().Instances; n != 1 {
		t.Errorf("%d instances, want 1", n)
	}
	d1, _ := h.Digest("gecho")
	d2, _ := h.Digest("gvia")
	if d1 == "" || d1 != d2 {
		t.Errorf("digests %q and %q: want the one module's", d1, d2)
	}
}

// spanGraph describes each span by its place in the call graph: caller,
// task, the task of its parent span, and its shape.
func spanGraph(spans []span.Span) []string {
	byID := map[uint64]span.Span{}
	for _, s := range spans {
		byID[s.ID] = s
	}
	var out []string
	for _, s := range spans {
		parent := ""
		if p, ok := byID[s.ParentID]; ok {
			parent = p.Task
		}
		out = append(out, fmt.Sprintf("%s->%s parent=%s async=%v err=%v in=%d out=%d", s.Caller, s.Task, parent, s.Async, s.Err != "", s.InputBytes, s.OutputBytes))
	}
	slices.Sort(out)
	return out
}

// A call inside a fused module records the same spans, linked the same way,
// as the call through the host between two modules.
func TestFusedCallRecordsTheSameSpansAsInstanceFusion(t *testing.T) {
	ctx := context.Background()
	inputs := []string{"gcaller", "gvia"}
	payload := map[string]string{"gcaller": "hello", "gvia": "gcaller:nested"}
	graphs := map[string][]string{}
	outs := map[string][]string{}
	for _, mode := range []string{"module", "instance"} {
		rec := span.NewBuffer(100)
		var h *host.Host
		if mode == "module" {
			h = newFusedHost(t, rec)
		} else {
			h = newInstanceHost(t, rec)
		}
		for _, n := range inputs {
			out, err := h.Invoke(ctx, n, []byte(payload[n]))
			if err != nil {
				t.Fatalf("%s: %s: %v", mode, n, err)
			}
			outs[mode] = append(outs[mode], string(out))
		}
		spans := rec.Drain()
		for _, s := range spans {
			if s.TraceID == "" || s.Duration <= 0 {
				t.Errorf("%s: span %+v lacks a trace or a duration", mode, s)
			}
			if s.Caller != "" && s.Wait != 0 && s.Wait > s.Duration {
				t.Errorf("%s: span %s waits %v of %v", mode, s.Task, s.Wait, s.Duration)
			}
		}
		graphs[mode] = spanGraph(spans)
	}
	if !slices.Equal(outs["module"], outs["instance"]) {
		t.Errorf("outputs: module-fused %q, instance-fused %q", outs["module"], outs["instance"])
	}
	if !slices.Equal(graphs["module"], graphs["instance"]) {
		t.Errorf("span graphs differ:\nmodule-fused   %v\ninstance-fused %v", graphs["module"], graphs["instance"])
	}
	if len(graphs["module"]) != 5 {
		t.Errorf("%d spans, want 5: %v", len(graphs["module"]), graphs["module"])
	}
}

// Errors of calls inside the module read as the host words them for a call
// between modules: the depth limit, an unknown task, a task error.
func TestFusedCallErrorsMatchInstanceFusion(t *testing.T) {
	ctx := context.Background()
	fused, inst := newFusedHost(t, nil), newInstanceHost(t, nil)
	for _, in := range []string{"self", "nosuch:x", "gvia:oops", "gecho:ok"} {
		outF, errF := fused.Invoke(ctx, "gvia", []byte(in))
		outI, errI := inst.Invoke(ctx, "gvia", []byte(in))
		if !bytes.Equal(outF, outI) || fmt.Sprint(errF) != fmt.Sprint(errI) {
			t.Errorf("gvia %q: module-fused %q, %v; instance-fused %q, %v", in, outF, errF, outI, errI)
		}
	}
	_, err := fused.Invoke(ctx, "gvia", []byte("self"))
	if err == nil || !strings.Contains(err.Error(), "maximum call depth") {
		t.Errorf("cycle: %v, want the depth limit", err)
	}
}

// A panic in a callee inside the module fails that call, as a panic in a
// module of its own fails its invocation; the instance lives on.
func TestFusedCalleePanicIsACallError(t *testing.T) {
	rec := span.NewBuffer(100)
	h := newFusedHost(t, rec)
	_, err := h.Invoke(context.Background(), "gvia", []byte("gpanic:panic"))
	if err == nil || !strings.Contains(err.Error(), `task "gpanic" on host h: panic: assignment to entry in nil map`) {
		t.Fatalf("err = %v, want gpanic's panic", err)
	}
	var failed []string
	for _, s := range rec.Drain() {
		if s.Err != "" {
			failed = append(failed, s.Task)
		}
	}
	if slices.Sort(failed); !slices.Equal(failed, []string{"gpanic", "gvia"}) {
		t.Errorf("failed spans %v, want gpanic and gvia", failed)
	}
	if st := h.Stats(); st.Traps != 0 || st.Instances != 1 {
		t.Errorf("traps %d, instances %d: want 0 and 1", st.Traps, st.Instances)
	}
}

// A trap in one task of a fused module under concurrent load: the error
// names the task that trapped (also when it trapped inside a call from
// another task of the module), its instance is discarded, and the other
// tasks keep serving, on replaced instances, throughout.
func TestFusedTrapUnderLoadNamesTheTaskAndOthersKeepServing(t *testing.T) {
	h := newFusedHost(t, nil)
	ctx := context.Background()
	const workers, rounds, traps = 4, 40, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*2+traps*2)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				task := []string{"gecho", "gcaller"}[i%2]
				in := fmt.Appendf(nil, "w%d-%d", w, i)
				out, err := h.Invoke(ctx, task, in)
				if err != nil || !bytes.Equal(out, in) {
					errs <- fmt.Errorf("%s %s: %q, %v", task, in, out, err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range traps {
			task, in := "gtrap", "trap"
			if i%2 == 1 {
				task, in = "gvia", "gtrap:trap"
			}
			_, err := h.Invoke(ctx, task, []byte(in))
			var he *host.Error
			if !errors.As(err, &he) || he.Task != "gtrap" || he.Code != host.CodeFailed || !strings.Contains(err.Error(), "stack overflow") {
				errs <- fmt.Errorf("%s %q: %v, want a failure naming gtrap", task, in, err)
			}
			if i%2 == 1 && !strings.Contains(fmt.Sprint(err), `from task "gvia"`) {
				errs <- fmt.Errorf("trap inside a call from gvia: %v does not say so", err)
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := h.Stats(); st.Traps != traps {
		t.Errorf("%d traps counted, want %d", st.Traps, traps)
	}
	if out, err := h.Invoke(ctx, "gcaller", []byte("after")); err != nil || string(out) != "after" {
		t.Errorf("after the traps: %q, %v", out, err)
	}
}

// Loading a fused module refuses, naming the culprit: a task it is loaded
// for but does not hold, a task it holds but is not loaded for, a module
// that names one task twice, a module of one task loaded as fused and the
// reverse, a task named twice in the list.
func TestLoadFusedRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	fusedPath := fusedGuest(t, fusedSet...)
	dup, err := os.ReadFile("testdata/fuseddup.wasm")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		load  func(h *host.Host) error
		is    error
		names string
	}{
		{"missing task", func(h *host.Host) error {
			return h.LoadFusedFile(ctx, append(slices.Clone(fusedSet), "gloop"), fusedPath, "")
		}, host.ErrMissingTask, `task "gloop"`},
		{"task not asked for", func(h *host.Host) error {
			return h.LoadFusedFile(ctx, fusedSet[1:], fusedPath, "")
		}, host.ErrBadModule, `task "gecho"`},
		{"two tasks with one name in the module", func(h *host.Host) error {
			return h.LoadFused(ctx, []string{"a"}, dup, "")
		}, host.ErrBadModule, `task "a"`},
		{"two tasks with one name in the list", func(h *host.Host) error {
			return h.LoadFusedFile(ctx, []string{"gecho", "gecho"}, fusedPath, "")
		}, host.ErrDuplicate, `task "gecho"`},
		{"module of one task", func(h *host.Host) error {
			return h.LoadFusedFile(ctx, []string{"gecho"}, goGuest(t, "gecho"), "")
		}, host.ErrABIVersion, "version 1"},
		{"fused module as one task", func(h *host.Host) error {
			return h.LoadFile(ctx, "gecho", fusedPath, "")
		}, host.ErrABIVersion, "fused module"},
		{"task loaded already", func(h *host.Host) error {
			if err := h.LoadFile(ctx, "gecho", goGuest(t, "gecho"), ""); err != nil {
				return err
			}
			return h.LoadFusedFile(ctx, fusedSet, fusedPath, "")
		}, host.ErrDuplicate, `task "gecho"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, host.Config{}, nil)
			err := tc.load(h)
			if !errors.Is(err, tc.is) || !strings.Contains(fmt.Sprint(err), tc.names) {
				t.Fatalf("err = %v, want %v naming %s", err, tc.is, tc.names)
			}
			if tc.name != "task loaded already" && len(h.Tasks()) != 0 {
				t.Errorf("tasks %v loaded after a refused module", h.Tasks())
			}
			if st := h.Stats(); tc.name != "task loaded already" && st.Instances != 0 {
				t.Errorf("%d instances left", st.Instances)
			}
		})
	}
}

// span_begin and span_end belong to fused modules: a module of one task
// that calls them gets BAD_ARGUMENT from both, and no span is recorded.
func TestSpanImportsRefuseAModuleOfOneTask(t *testing.T) {
	rec := span.NewBuffer(10)
	h := newHost(t, host.Config{Recorder: rec}, map[string]string{"probe": wat("spanprobe")})
	out, err := h.Invoke(context.Background(), "probe", nil)
	if err != nil || len(out) != 8 {
		t.Fatalf("%q, %v", out, err)
	}
	begin, end := int32(binary.LittleEndian.Uint32(out)), int32(binary.LittleEndian.Uint32(out[4:]))
	if begin != int32(host.CodeBadArgument) || end != int32(host.CodeBadArgument) {
		t.Errorf("span_begin %d, span_end %d: want %d from both", begin, end, host.CodeBadArgument)
	}
	if spans := rec.Drain(); len(spans) != 1 || spans[0].Task != "probe" {
		t.Errorf("spans %+v, want the probe's only", spans)
	}
}

// A fused module's one pool keeps as many idle instances as its tasks'
// pools would: an invocation that fans out inside it (gpar starts two
// gsleep calls, three instances at once) creates no more instances, run
// after run once the pools are filled, than the same tasks as modules of
// their own.
func TestFusedPoolKeepsAnIdleInstancePerTask(t *testing.T) {
	ctx := context.Background()
	tasks := []string{"gpar", "gsleep"}
	fused := newHost(t, host.Config{Name: "fused", PoolSize: 1}, nil)
	if err := fused.LoadFusedFile(ctx, tasks, fusedGuest(t, tasks...), ""); err != nil {
		t.Fatal(err)
	}
	separate := newHost(t, host.Config{Name: "separate", PoolSize: 1}, map[string]string{"gpar": goGuest(t, "gpar"), "gsleep": goGuest(t, "gsleep")})
	const runs = 5
	created := map[string]uint64{}
	for name, h := range map[string]*host.Host{"fused": fused, "separate": separate} {
		var before uint64
		for i := range runs + 1 {
			if i == 1 {
				// After a first run, which fills the pools.
				before = h.Stats().InstancesCreated
			}
			if out, err := h.Invoke(ctx, "gpar", []byte("5")); err != nil || string(out) != "slept+slept" {
				t.Fatalf("%s: gpar: %q, %v", name, out, err)
			}
		}
		created[name] = h.Stats().InstancesCreated - before
	}
	// Separate: gsleep's pool of one keeps one of its two instances, so
	// each run creates one; fused, the pool of two keeps two of three.
	if created["separate"] != runs {
		t.Errorf("separate modules created %d instances in %d runs, want %d", created["separate"], runs, runs)
	}
	if created["fused"] > created["separate"] {
		t.Errorf("the fused module created %d instances in %d runs, the same tasks as modules of their own %d: its pool keeps fewer idle instances than theirs", created["fused"], runs, created["separate"])
	}
}
