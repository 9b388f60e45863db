package host_test

// Benchmarks of the host's hot paths. BENCHMARKS.md has the figures and the
// command that reproduces them:
//
//	go test ./host/ -run '^$' -bench . -benchmem -count 1

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/fusionize/fusionize/host"
)

// loopInput prefixes payload with b.N for the looping guests.
func loopInput(n int, payload []byte) []byte {
	in := make([]byte, 4+len(payload))
	binary.LittleEndian.PutUint32(in, uint32(n))
	copy(in[4:], payload)
	return in
}

var kib = make([]byte, 1024)

// (a) A warm invocation of a no-op Go task through the host API.
func BenchmarkInvokeNoopGo(b *testing.B) {
	for _, mode := range preemptionModes {
		b.Run(mode.name, func(b *testing.B) {
			h := newHost(b, host.Config{DisablePreemption: mode.off}, map[string]string{"noop": goGuest(b, "noop")})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Invoke(ctx, "noop", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// (b) A fused call A→host→B with 1 KiB between Go tasks, per call, measured
// inside one invocation of a guest that loops.
func BenchmarkFusedCallGo1KiB(b *testing.B) {
	for _, mode := range preemptionModes {
		b.Run(mode.name, func(b *testing.B) {
			h := newHost(b, host.Config{DisablePreemption: mode.off}, map[string]string{"gloop": goGuest(b, "gloop"), "gecho": goGuest(b, "gecho")})
			benchLoop(b, h, "gloop")
		})
	}
}

// preemptionModes: with preemption (the default) wazero watches each call's
// context from a goroutine; without, the boundary is bare.
var preemptionModes = []struct {
	name string
	off  bool
}{{"preempt", false}, {"no-preempt", true}}

// (c) The fused-call floor: the host boundary alone between WAT tasks with
// preallocated buffers, 1 KiB each way.
func BenchmarkFusedCallFloor1KiB(b *testing.B) {
	for _, mode := range preemptionModes {
		b.Run(mode.name, func(b *testing.B) {
			h := newHost(b, host.Config{DisablePreemption: mode.off}, map[string]string{"looper": wat("looper"), "echo": wat("echo")})
			benchLoop(b, h, "looper")
		})
	}
}

func benchLoop(b *testing.B, h *host.Host, task string) {
	ctx := context.Background()
	// Warm both tasks' instances.
	if _, err := h.Invoke(ctx, task, loopInput(10, kib)); err != nil {
		b.Fatal(err)
	}
	in := loopInput(b.N, kib)
	b.ReportAllocs()
	b.ResetTimer()
	out, err := h.Invoke(ctx, task, in)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if len(out) != len(kib) {
		b.Fatalf("got %d bytes", len(out))
	}
}

// (f) The work of (b) as plain Go functions: A hands 1 KiB to B (copied
// into B's input buffer, as the host copies it into B's memory), B returns
// it, and A copies the result into its reused buffer. The native baseline.
func BenchmarkNativeCall1KiB(b *testing.B) {
	var n native
	b.ReportAllocs()
	for b.Loop() {
		n.a(kib)
	}
	if len(n.resA) != len(kib) {
		b.Fatal(len(n.resA))
	}
}

type native struct{ inB, resA []byte }

//go:noinline
func (n *native) b(in []byte) []byte { return in }

//go:noinline
func (n *native) a(in []byte) {
	n.inB = append(n.inB[:0], in...)
	out := n.b(n.inB)
	n.resA = append(n.resA[:0], out...)
}
