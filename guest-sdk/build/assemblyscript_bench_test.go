package build_test

import (
	"context"
	"testing"
)

// BenchmarkInvokeEcho invokes a task that returns its 64-byte input, in each
// language, on one real host: what a guest's own runtime adds to an
// invocation. Baseline: go. Run with
//
//	go test ./guest-sdk/build -run '^$' -bench InvokeEcho -benchtime 20000x
func BenchmarkInvokeEcho(b *testing.B) {
	h, _ := probeHost(b)
	ctx := context.Background()
	in := make([]byte, 64)
	for i := range in {
		in[i] = 'a'
	}
	probeIn := append([]byte("echo "), in...)
	for _, c := range []struct {
		name, task string
		input      []byte
	}{
		{"go", "echo", in},
		{"wat", "wecho", in},
		{"assemblyscript", "probe", probeIn},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := h.Invoke(ctx, c.task, c.input)
				if err != nil || len(out) != len(in) {
					b.Fatalf("%s: %d bytes, %v", c.task, len(out), err)
				}
			}
		})
	}
}

// BenchmarkFusedCallFromAssemblyScript is one invocation of the
// AssemblyScript probe that makes one sync call, in memory, to the Go echo
// task and to the WAT one (so each includes BenchmarkInvokeEcho's
// assemblyscript case plus the call).
func BenchmarkFusedCallFromAssemblyScript(b *testing.B) {
	h, _ := probeHost(b)
	ctx := context.Background()
	for _, callee := range []string{"echo", "wecho"} {
		b.Run(callee, func(b *testing.B) {
			b.ReportAllocs()
			in := []byte("call " + callee + " hello")
			for b.Loop() {
				out, err := h.Invoke(ctx, "probe", in)
				if err != nil || string(out) != "ok:hello" {
					b.Fatalf("%q, %v", out, err)
				}
			}
		})
	}
}
