package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
)

var (
	cacheDir string // a compilation cache shared by the tests of one run
	quiet    = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fusionize-remote-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = filepath.Join(dir, "cache")
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := leakedGoroutines(5 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to d for the goroutines of gRPC, net/http,
// wazero and this package to end, and describes those left.
func leakedGoroutines(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "leakedGoroutines") {
				continue
			}
			for _, pkg := range []string{"google.golang.org/grpc", "net/http.", "tetratelabs/wazero", "fusionize/host"} {
				if strings.Contains(g, pkg) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wat returns the path of a committed test module of package host.
func wat(name string) string { return filepath.Join("..", "testdata", name+".wasm") }

// newHost starts a host with tasks (name → module path), closed at cleanup.
func newHost(t testing.TB, cfg host.Config, tasks map[string]string) *host.Host {
	t.Helper()
	ctx := context.Background()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = cacheDir
	}
	h, err := host.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("close host %s: %v", h.Name(), err)
		}
	})
	for name, path := range tasks {
		if err := h.LoadFile(ctx, name, path, ""); err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
	}
	return h
}

// serve serves h over gRPC on a loopback port until cleanup and returns
// the server and its address.
func serve(t testing.TB, h *host.Host, opts server.Options) (*server.Server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, h, opts, lis), lis.Addr().String()
}

func serveOn(t testing.TB, h *host.Host, opts server.Options, lis net.Listener) *server.Server {
	t.Helper()
	s, err := server.New(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

// newTransport returns a Transport closed at cleanup.
func newTransport(t testing.TB, opts grpctransport.Options, to addrs) *routed {
	t.Helper()
	gt, err := grpctransport.NewTransport(opts)
	if err != nil {
		t.Fatal(err)
	}
	tr := &routed{Transport: gt, eps: endpointsOf(to)}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("close transport: %v", err)
		}
	})
	return tr
}

// serveHTTP serves handler on a loopback port until cleanup and returns its
// base URL and a client.
func serveHTTP(t testing.TB, handler http.Handler) (string, *http.Client) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("http serve: %v", err)
		}
	})
	return "http://" + lis.Addr().String(), client
}

// twoGroups is the setup of the caller/echo tests: caller in group "a",
// echo in group "b".
func twoGroups() *setup.Setup {
	place := setup.Place{Provider: "local"}
	return &setup.Setup{Version: 7, Groups: []setup.Group{
		{Name: "a", Tasks: []string{"caller"}, MemoryMB: 128, Place: place},
		{Name: "b", Tasks: []string{"echo"}, MemoryMB: 128, Place: place},
	}}
}

// pair is host a (group "a", task caller) calling host b (group "b",
// task echo) over gRPC.
type pair struct {
	a, b       *host.Host
	srvB       *server.Server
	addrB      string
	tr         *routed
	recA, recB *span.Buffer
}

func newPair(t testing.TB, cfgA, cfgB host.Config) *pair {
	t.Helper()
	p := &pair{recA: span.NewBuffer(10_000), recB: span.NewBuffer(10_000)}
	cfgB.Name, cfgB.Group, cfgB.Recorder = "host-b", "b", p.recB
	p.b = newHost(t, cfgB, map[string]string{"echo": wat("echo")})
	p.srvB, p.addrB = serve(t, p.b, server.Options{MaxPayload: cfgB.MaxPayload})
	p.tr = newTransport(t, grpctransport.Options{}, addrs{"b": p.addrB})
	cfgA.Name, cfgA.Group, cfgA.Recorder, cfgA.Transport, cfgA.Endpoints = "host-a", "a", p.recA, p.tr, p.tr.eps
	p.a = newHost(t, cfgA, map[string]string{"caller": wat("caller")})
	for _, h := range []*host.Host{p.a, p.b} {
		if err := h.SetSetup(twoGroups()); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// addrs is a routing table by address: fusion group → "host:port".
type addrs map[string]string

// endpointTable is a routing table that later entries may join, as
// hosts of a test come up one by one.
type endpointTable struct{ to addrs }

func endpointsOf(to addrs) endpointTable { return endpointTable{to: to} }

// Endpoint implements host.Endpoints.
func (e endpointTable) Endpoint(_ context.Context, group string) (api.Endpoint, error) {
	if a, ok := e.to[group]; ok && a != "" {
		return api.GRPC(a), nil
	}
	return api.Endpoint{}, fmt.Errorf("%w %q", host.ErrNoEndpoint, group)
}

// routed is a gRPC transport with its routing table, as a host holds
// them: tests call the tasks of a group through it by the group's name.
type routed struct {
	*grpctransport.Transport
	eps endpointTable
}

// Call sends c to the endpoint of group, as a host's remote call does.
func (r *routed) Call(ctx context.Context, group string, c host.Call) ([]byte, error) {
	ep, err := r.eps.Endpoint(ctx, group)
	if err != nil {
		return nil, &host.Error{Task: c.Task, Code: host.CodeUnavailable, Msg: err.Error()}
	}
	return r.Transport.Invoke(ctx, host.Target{Group: group, Endpoint: ep}, c)
}
