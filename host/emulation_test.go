package host_test

// The emulation of cloud platforms that local hosts do today (cold-start
// delay, CPU share), pinned before it moves out of the host into
// emulators/: these tests say what the emulators must keep doing. They
// compare figures measured within one run, and use lower bounds only where
// a sleep guarantees them, never absolute timing thresholds.

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
)

func TestEmulatedColdStartDelaysOnlyTheFirstRequestOfAnInstance(t *testing.T) {
	const delay = 120 * time.Millisecond
	rec := span.NewBuffer(16)
	h := newHost(t, host.Config{ColdStartDelay: delay, Recorder: rec}, map[string]string{"echo": wat("echo")})
	for range 2 {
		if _, err := h.Invoke(context.Background(), "echo", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	spans := rec.Drain()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	first, second := spans[0], spans[1]
	if !first.Cold || first.Duration < delay {
		t.Errorf("first request: cold %v, duration %s; want cold and at least the %s delay", first.Cold, first.Duration, delay)
	}
	if second.Cold || second.Duration >= first.Duration {
		t.Errorf("second request: cold %v, duration %s (first %s); want warm and shorter", second.Cold, second.Duration, first.Duration)
	}
	if st := h.Stats(); st.ColdStarts != 1 {
		t.Errorf("ColdStarts = %d, want 1", st.ColdStarts)
	}
}

func TestFirstRequestOfANewHostIsColdWithoutEmulationToo(t *testing.T) {
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
}

func TestEmulatedCPUShareStretchesOwnTimeByItsInverse(t *testing.T) {
	if testing.Short() {
		t.Skip("burns CPU for a few seconds")
	}
	if _, err := runQueueWait(); err != nil {
		t.Skipf("no per-thread scheduler statistics: %v", err)
	}
	// One host at a full vCPU, one at half; the same CPU-bound task on
	// both, interleaved so that the machine's load hits both alike. On a
	// busy machine a task also waits for a CPU, which adds wall time the
	// emulation (it stretches by CPU time) rightly leaves alone: the
	// thread's run-queue wait during each call is taken out.
	spans := span.NewBuffer(4)
	full := newHost(t, host.Config{Name: "full", CPUShare: 1, Recorder: spans}, map[string]string{"spin": wat("spin")})
	half := newHost(t, host.Config{Name: "half", CPUShare: 0.5, Recorder: spans}, map[string]string{"spin": wat("spin")})
	own := map[*host.Host]*[]time.Duration{full: new([]time.Duration), half: new([]time.Duration)}
	runtime.LockOSThread() // the host runs the task on this thread
	defer runtime.UnlockOSThread()
	const rounds = 9
	for range rounds {
		for _, h := range []*host.Host{full, half} {
			before, err := runQueueWait()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.Invoke(context.Background(), "spin", nil); err != nil {
				t.Fatal(err)
			}
			after, err := runQueueWait()
			if err != nil {
				t.Fatal(err)
			}
			sp := spans.Drain()
			if len(sp) != 1 {
				t.Fatalf("%d spans of one call", len(sp))
			}
			// The reported own time, less the wait for a CPU.
			*own[h] = append(*own[h], sp[0].Self()-(after-before))
		}
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	f, hf := median(*own[full]), median(*own[half])
	ratio := float64(hf) / float64(f)
	t.Logf("reported own time less run-queue wait at share 1: %s, at share 0.5: %s, ratio %.2f (want about 2)", f, hf, ratio)
	if ratio < 1.5 || ratio > 2.7 {
		t.Fatalf("own time at share 0.5 is %.2f× that at share 1, want about 1/0.5 = 2 (1.5 to 2.7)", ratio)
	}
}

// runQueueWait returns how long this thread has waited for a CPU
// (/proc/thread-self/schedstat, second field).
func runQueueWait() (time.Duration, error) {
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("schedstat: %q", b)
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	return time.Duration(ns), err
}
