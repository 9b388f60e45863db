package host_test

// The call between two Go tasks three ways, in one run:
//
//	go test ./host/ -run '^$' -bench 'CallGo1KiB' -benchmem -count 1
//
// native: the same work as plain Go functions (BenchmarkNativeCall1KiB's);
// plain-go-in-one-module: that work inside one Wasm module (gloopplain),
// the floor of a call inside a module;
// instance-fused: gloop and gecho in modules of their own, the call through
// the host; module-fused: both in one fused module, the call inside it.
// Every call's span is recorded (counted by the recorder, and checked).

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
)

type countRecorder struct{ n atomic.Int64 }

func (c *countRecorder) Record(s span.Span) {
	if s.Task == "gecho" {
		c.n.Add(1)
	}
}

func BenchmarkCallGo1KiB(b *testing.B) {
	b.Run("native", func(b *testing.B) {
		var n native
		b.ReportAllocs()
		for b.Loop() {
			n.a(kib)
		}
	})
	b.Run("plain-go-in-one-module", func(b *testing.B) {
		h := newHost(b, host.Config{DisablePreemption: true}, map[string]string{"gloopplain": goGuest(b, "gloopplain")})
		benchLoop(b, h, "gloopplain")
	})
	for _, mode := range preemptionModes {
		for _, fusion := range []string{"instance-fused", "module-fused"} {
			b.Run(fusion+"/"+mode.name, func(b *testing.B) {
				rec := &countRecorder{}
				cfg := host.Config{DisablePreemption: mode.off, Recorder: rec}
				var h *host.Host
				if fusion == "module-fused" {
					h = newHost(b, cfg, nil)
					if err := h.LoadFusedFile(context.Background(), []string{"gloop", "gecho"}, fusedGuest(b, "gloop", "gecho"), ""); err != nil {
						b.Fatal(err)
					}
				} else {
					h = newHost(b, cfg, map[string]string{"gloop": goGuest(b, "gloop"), "gecho": goGuest(b, "gecho")})
				}
				benchLoop(b, h, "gloop")
				if got := rec.n.Load(); got != int64(b.N)+10 {
					b.Fatalf("%d gecho spans recorded, want %d", got, b.N+10)
				}
			})
		}
	}
}
