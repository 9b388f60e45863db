package route_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/host/transport/route"
)

// echoHost serves task echo on a real host over gRPC on loopback.
func echoHost(t *testing.T, name string) (*server.Server, string) {
	t.Helper()
	ctx := context.Background()
	h, err := host.New(ctx, host.Config{Name: name, Group: name, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(ctx) })
	if err := h.LoadFile(ctx, "echo", filepath.Join("..", "..", "testdata", "echo.wasm"), ""); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(h, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Shutdown(ctx) })
	return srv, lis.Addr().String()
}

func standard(t *testing.T) *transport.Mux {
	t.Helper()
	mux, err := transport.Standard(transport.Options{GRPC: grpctransport.Options{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mux.Close() })
	return mux
}

func table(v int64, group, addr string) route.Table {
	return route.Table{Version: v, GroupOf: map[string]string{"echo": group}, Endpoints: api.Endpoints{group: api.GRPC(addr)}}
}

// TestRefusedRequestIsSentAgainByAFreshTable: the old version's host drains
// (CodeUnavailable); the router asks its source again at once, gets the new
// version, and the request is answered there.
func TestRefusedRequestIsSentAgainByAFreshTable(t *testing.T) {
	oldSrv, oldAddr := echoHost(t, "old")
	_, newAddr := echoHost(t, "new")
	var version atomic.Int64
	version.Store(1)
	src := route.SourceFunc(func(context.Context) (route.Table, error) {
		if version.Load() == 1 {
			return table(1, "old", oldAddr), nil
		}
		return table(2, "new", newAddr), nil
	})
	r := route.New(src, standard(t), route.Options{Refresh: 1 << 40}) // never stale by age
	res, err := r.Call(t.Context(), host.Call{Task: "echo", Input: []byte("a")})
	if err != nil || res.Version != 1 || string(res.Output) != "a" {
		t.Fatalf("before the switch: %+v, %v", res, err)
	}
	version.Store(2)
	oldSrv.Drain()
	res, err = r.Call(t.Context(), host.Call{Task: "echo", Input: []byte("b")})
	if err != nil || res.Version != 2 || res.Group != "new" || string(res.Output) != "b" {
		t.Fatalf("after the switch: %+v, %v; want version 2's answer", res, err)
	}
}

// TestUnknownTaskNamesItAndTheVersion; a Source's ErrNoActiveSetup
// passes through; a Default group takes every task.
func TestUnknownTaskNamesItAndTheVersion(t *testing.T) {
	_, addr := echoHost(t, "g")
	r := route.New(route.SourceFunc(func(context.Context) (route.Table, error) { return table(7, "g", addr), nil }), standard(t), route.Options{})
	_, err := r.Call(t.Context(), host.Call{Task: "checkout"})
	if host.CodeOf(err) != host.CodeUnknownTask || !strings.Contains(err.Error(), `"checkout"`) || !strings.Contains(err.Error(), "version 7") || !strings.Contains(err.Error(), "echo") {
		t.Fatalf("unknown task: %v, want CodeUnknownTask naming it, the version and the tasks there are", err)
	}

	none := route.New(route.SourceFunc(func(context.Context) (route.Table, error) {
		return route.Table{}, route.ErrNoActiveSetup
	}), standard(t), route.Options{})
	if _, err := none.Call(t.Context(), host.Call{Task: "echo"}); !errors.Is(err, route.ErrNoActiveSetup) {
		t.Fatalf("no active setup: %v", err)
	}

	gw := route.New(route.SourceFunc(func(context.Context) (route.Table, error) {
		return route.Table{Default: "gw", Endpoints: api.Endpoints{"gw": api.GRPC(addr)}}, nil
	}), standard(t), route.Options{Refresh: -1})
	if res, err := gw.Call(t.Context(), host.Call{Task: "echo", Input: []byte("via default")}); err != nil || string(res.Output) != "via default" {
		t.Fatalf("default group: %+v, %v", res, err)
	}
}
