package server_test

import (
	"context"
	"runtime"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// BenchmarkInvokeToken compares Invoke of echo (empty input) on a host that
// requires the invoke token, called with it in the metadata as the grpc
// transport sends it, with the same call on a host that requires none.
func BenchmarkInvokeToken(b *testing.B) {
	open := newHost(b, host.Config{Name: "open"}, map[string]string{"echo": wat("echo")})
	_, openAddr := serve(b, open, server.Options{})
	guarded := newHost(b, host.Config{Name: "guarded"}, map[string]string{"echo": wat("echo")})
	_, guardedAddr := serve(b, guarded, server.Options{InvokeToken: testToken})
	req := &fusionizev1.InvokeRequest{Task: "echo"}
	call := func(c fusionizev1.HostServiceClient, kv ...string) func() {
		return func() {
			ctx := context.Background()
			if len(kv) > 0 {
				ctx = metadata.AppendToOutgoingContext(ctx, kv...)
			}
			if _, err := c.Invoke(ctx, req); err != nil {
				b.Error(err)
			}
		}
	}
	b.ReportAllocs()
	interleave(b, runtime.GOMAXPROCS(0), 20,
		"open", call(dialRaw(b, openAddr)),
		"token", call(dialRaw(b, guardedAddr), "authorization", "Bearer "+testToken))
}
