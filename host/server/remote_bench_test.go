package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// interleave measures two operations in alternating batches of n calls
// from each of par goroutines, so that both see the same machine (load by
// other processes included), and reports the time per call of each and
// their ratio (the second over the first) as metrics.
func interleave(b *testing.B, par, n int, nameA string, a func(), nameB string, fb func()) {
	batch := func(f func()) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for range par {
			wg.Go(func() {
				for range n {
					f()
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	a()
	fb()
	var ta, tb time.Duration
	for b.Loop() {
		ta += batch(a)
		tb += batch(fb)
	}
	calls := float64(b.N * par * n)
	b.ReportMetric(float64(ta.Nanoseconds())/calls, nameA+"-ns/call")
	b.ReportMetric(float64(tb.Nanoseconds())/calls, nameB+"-ns/call")
	b.ReportMetric(float64(tb)/float64(ta), nameB+"/"+nameA)
	b.ReportMetric(0, "ns/op") // an op is two batches: not meaningful
}

// BenchmarkRemoteCall compares caller→echo with 1 KiB across two hosts
// over loopback gRPC with the same two tasks fused in one host.
func BenchmarkRemoteCall(b *testing.B) {
	ctx := context.Background()
	in := bytes.Repeat([]byte("x"), 1024)
	fused := newHost(b, host.Config{Name: "fused", Group: "all"}, map[string]string{"caller": wat("caller"), "echo": wat("echo")})
	p := newPair(b, host.Config{}, host.Config{})
	for _, bc := range []struct {
		name string
		h    *host.Host
	}{{"fused-1KiB", fused}, {"remote-1KiB", p.a}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				out, err := bc.h.Invoke(ctx, "caller", in)
				if err != nil || len(out) != len(in) {
					b.Fatal(out, err)
				}
			}
		})
	}
	call := func(h *host.Host) func() {
		return func() {
			if out, err := h.Invoke(ctx, "caller", in); err != nil || len(out) != len(in) {
				b.Fatal(out, err)
			}
		}
	}
	b.Run("ratio", func(b *testing.B) {
		interleave(b, 1, 20, "fused", call(fused), "remote", call(p.a))
	})
}

// bareServer is HostService.Invoke as plain grpc-go: it returns the input.
type bareServer struct {
	fusionizev1.UnimplementedHostServiceServer
}

func (bareServer) Invoke(_ context.Context, req *fusionizev1.InvokeRequest) (*fusionizev1.InvokeResponse, error) {
	return &fusionizev1.InvokeResponse{Output: req.GetInput()}, nil
}

func serveBare(b *testing.B) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer()
	fusionizev1.RegisterHostServiceServer(gs, bareServer{})
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(lis) }()
	b.Cleanup(func() { gs.Stop(); <-done })
	return lis.Addr().String()
}

func dialRaw(b *testing.B, addr string) fusionizev1.HostServiceClient {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cc.Close() })
	return fusionizev1.NewHostServiceClient(cc)
}

// BenchmarkInvokeThroughput compares a host serving the echo task with
// empty input over gRPC with a bare grpc-go server that returns the input,
// both called in parallel by the same kind of client.
func BenchmarkInvokeThroughput(b *testing.B) {
	h := newHost(b, host.Config{Name: "host-b"}, map[string]string{"echo": wat("echo")})
	_, hostAddr := serve(b, h, server.Options{})
	bareAddr := serveBare(b)
	for _, bc := range []struct{ name, addr string }{{"host", hostAddr}, {"bare", bareAddr}} {
		b.Run(bc.name, func(b *testing.B) {
			client := dialRaw(b, bc.addr)
			req := &fusionizev1.InvokeRequest{Task: "echo"}
			if _, err := client.Invoke(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.Invoke(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	req := &fusionizev1.InvokeRequest{Task: "echo"}
	call := func(c fusionizev1.HostServiceClient) func() {
		return func() {
			if _, err := c.Invoke(context.Background(), req); err != nil {
				b.Error(err)
			}
		}
	}
	b.Run("ratio", func(b *testing.B) {
		interleave(b, runtime.GOMAXPROCS(0), 20, "bare", call(dialRaw(b, bareAddr)), "host", call(dialRaw(b, hostAddr)))
	})
}

// BenchmarkGatewayOverhead compares the same invoke (echo, 64 bytes) through
// the REST gateway (calling the gRPC listener, or the Server in process)
// with plain gRPC, one call at a time.
func BenchmarkGatewayOverhead(b *testing.B) {
	h := newHost(b, host.Config{Name: "host-b"}, map[string]string{"echo": wat("echo")})
	s, addr := serve(b, h, server.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	handler, err := s.HTTPHandler(ctx, addr, server.HTTPOptions{})
	if err != nil {
		b.Fatal(err)
	}
	base, httpClient := serveHTTP(b, handler)
	local, err := s.HTTPHandler(ctx, "", server.HTTPOptions{})
	if err != nil {
		b.Fatal(err)
	}
	localBase, _ := serveHTTP(b, local)
	in := bytes.Repeat([]byte("g"), 64)
	body := fmt.Sprintf(`{"input":%q}`, base64.StdEncoding.EncodeToString(in))

	client := dialRaw(b, addr)
	req := &fusionizev1.InvokeRequest{Task: "echo", Input: in}
	viaGRPC := func() {
		resp, err := client.Invoke(context.Background(), req)
		if err != nil || len(resp.GetOutput()) != len(in) {
			b.Fatal(resp, err)
		}
	}
	post := func(base string) func() {
		return func() {
			resp, err := httpClient.Post(base+"/v1/invoke/echo", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"output"`)) {
				b.Fatalf("%d %s", resp.StatusCode, out)
			}
		}
	}
	viaREST, viaLocalREST := post(base), post(localBase)
	for _, bc := range []struct {
		name string
		f    func()
	}{{"grpc", viaGRPC}, {"rest", viaREST}, {"rest-inprocess", viaLocalREST}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.f()
			}
		})
	}
	b.Run("ratio", func(b *testing.B) {
		interleave(b, 1, 20, "grpc", viaGRPC, "rest", viaREST)
	})
	b.Run("ratio-inprocess", func(b *testing.B) {
		interleave(b, 1, 20, "grpc", viaGRPC, "rest", viaLocalREST)
	})
}
