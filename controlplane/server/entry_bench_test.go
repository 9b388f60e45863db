package server

import (
	"testing"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/host"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
)

// BenchmarkEntryInvoke compares a 1 KiB echo sent through the control
// plane's entry point (client → control plane → host) with the same call
// sent directly to the host (client → host), both over real gRPC on
// loopback with the same client transport: the ratio is the entry point's
// price. See BENCHMARKS.md, "The stable entry point".
func BenchmarkEntryInvoke(b *testing.B) {
	cp := startCP(b, b.TempDir())
	addr := startEchoHost(b, "a", cp.InvokeToken())
	v, err := cp.Store().ApplySetup(echoSetup("a"))
	if err != nil {
		b.Fatal(err)
	}
	if err := cp.Store().SetEndpoints(v, api.Endpoints{"a": api.GRPC(addr)}); err != nil {
		b.Fatal(err)
	}
	if err := cp.Store().SetActiveVersion(v); err != nil {
		b.Fatal(err)
	}
	tr, err := grpctransport.NewTransport(grpctransport.Options{InvokeToken: cp.InvokeToken()})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	input := make([]byte, 1024)
	for _, tc := range []struct {
		name string
		to   host.Target
	}{
		{"direct", host.Target{Group: "a", Endpoint: api.GRPC(addr)}},
		{"entry", host.Target{Group: "entry", Endpoint: api.GRPC(cp.Addr())}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := b.Context()
			for b.Loop() {
				out, err := tr.Invoke(ctx, tc.to, host.Call{Task: "echo", Input: input})
				if err != nil || len(out) != len(input) {
					b.Fatalf("%d bytes back, %v", len(out), err)
				}
			}
		})
	}
}
