package runtime_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/runtime"
)

// BenchmarkKV compares a 1 KiB kv get and put through the control plane
// (real gRPC on loopback, bbolt committing each put with fsync) with the
// in-memory store, the baseline. Ratios: controlplane/x over mem/x.
func BenchmarkKV(b *testing.B) {
	val := make([]byte, 1024)
	cp, err := server.New(server.Options{DataDir: b.TempDir(), App: "bench", Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	c, err := client.Dial(ctx, cp.Addr(), cp.Token())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, s := range []struct {
		name string
		kv   host.KV
	}{
		{"mem", host.NewMemKV()},
		{"controlplane", runtime.NewControlPlaneKV(c, "bench")},
	} {
		if err := s.kv.Put(ctx, "k", val); err != nil {
			b.Fatal(err)
		}
		b.Run(s.name+"/get", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := s.kv.Get(ctx, "k"); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
		b.Run(s.name+"/put", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.kv.Put(ctx, "k", val); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
