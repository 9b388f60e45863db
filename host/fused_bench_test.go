package host_test

// The call between two Go tasks, in one run:
//
//	go test ./host/ -run '^$' -bench 'CallGo1KiB' -benchmem -count 1
//
// native: the same work as plain Go functions (BenchmarkNativeCall1KiB's);
// plain-go-in-one-module: that work inside one Wasm module (gloopplain),
// the floor of a call inside a module;
// instance-fused: gloop and gecho in modules of their own, the call through
// the host; module-fused: both in one fused module, the call inside it,
// sampled (the default Config.SpanSampleEvery: 1 call in 64 timed by the
// host, the others counted by the guest) or exact (SpanSampleEvery 1:
// every call through span_begin and span_end).
// Every call is recorded: the recorder sums the calls gecho's spans stand
// for (span.Span.Calls), and the benchmark fails unless it is one per call.

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
)

type countRecorder struct{ n, spans atomic.Int64 }

func (c *countRecorder) Record(s span.Span) {
	if s.Task == "gecho" {
		c.n.Add(int64(s.Calls()))
		c.spans.Add(1)
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
	fusions := []struct {
		name  string
		every int // Config.SpanSampleEvery; -1: instance-fused
	}{{"instance-fused", -1}, {"module-fused-exact", 1}, {"module-fused-sampled", 0}}
	for _, mode := range preemptionModes {
		b.Run("plain-go-in-one-module/"+mode.name, func(b *testing.B) {
			h := newHost(b, host.Config{DisablePreemption: mode.off}, map[string]string{"gloopplain": goGuest(b, "gloopplain")})
			benchLoop(b, h, "gloopplain")
		})
		for _, fusion := range fusions {
			b.Run(fusion.name+"/"+mode.name, func(b *testing.B) {
				rec := &countRecorder{}
				cfg := host.Config{DisablePreemption: mode.off, Recorder: rec, SpanSampleEvery: max(fusion.every, 0)}
				var h *host.Host
				if fusion.every >= 0 {
					h = newHost(b, cfg, nil)
					if err := h.LoadFusedFile(context.Background(), []string{"gloop", "gecho"}, fusedGuest(b, "gloop", "gecho"), ""); err != nil {
						b.Fatal(err)
					}
				} else {
					h = newHost(b, cfg, map[string]string{"gloop": goGuest(b, "gloop"), "gecho": goGuest(b, "gecho")})
				}
				benchLoop(b, h, "gloop")
				if got := rec.n.Load(); got != int64(b.N)+10 {
					b.Fatalf("%d gecho calls recorded in %d spans, want %d", got, rec.spans.Load(), b.N+10)
				}
				b.ReportMetric(float64(rec.spans.Load())/float64(b.N+10), "spans/call")
			})
		}
	}
}
