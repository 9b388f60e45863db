package examples_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
	"github.com/fusionize/fusionize/host"
	lambdatransport "github.com/fusionize/fusionize/host/transport/lambda"
)

// TestIoTOnLambdaMatchesFused deploys the IoT app group by group (every task
// its own function) through the aws adapter to the Lambda emulator and
// invokes its entry task through the Lambda Invoke API: the result is the
// one the fused app gives in one local host, and the spans the functions
// report show the documented call graph, every edge remote.
func TestIoTOnLambdaMatchesFused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the IoT app and the Lambda bootstrap, starts ten functions")
	}
	app := buildApp(t, "iot")
	want := fusedResult(t, app)

	cp := controlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, tk := range app.Tasks {
		if _, err := cp.client.UploadModuleFile(ctx, tk.Name, app.ModulePath(&tk)); err != nil {
			t.Fatal(err)
		}
	}
	su := setup.Separate(0, app.TaskNames(), setup.Place{Provider: "aws", Region: "us-east-1"}, 512)
	v, err := cp.client.ApplySetup(ctx, su)
	if err != nil {
		t.Fatal(err)
	}
	su.Version = v

	em, url := lambdaEmulator(t)
	a, err := aws.New(ctx, aws.Options{Endpoint: url, Timeout: 30, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(context.Background()); err != nil && !errors.Is(err, adapters.ErrClosed) {
			t.Errorf("close adapter: %v", err)
		}
	})
	eps := map[string]adapters.Endpoint{}
	for _, g := range su.Groups {
		d := adapters.Deployment{App: app.Name, Version: v, Group: g, ControlPlane: cp.addr, Token: cp.token}
		if eps[g.Name], err = a.Deploy(ctx, d); err != nil {
			t.Fatalf("%v\nlog of %s:\n%s", err, g.Name, em.Logs(aws.FunctionName(app.Name, g.Name)))
		}
	}

	tr := lambdatransport.New(lambdatransport.Options{})
	got, err := tr.Call(ctx, eps[app.Entry].Endpoint, host.Call{Task: app.Entry, Input: []byte(app.Input)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("on Lambda the app returned\n%s\nfused it returned\n%s", got, want)
	}

	wantEdges := slices.Sorted(slices.Values(graphs["iot"]))
	var spans []span.Span
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		spans, err = cp.client.Spans(ctx, v, 0)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(observed(spans), wantEdges) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if e := observed(spans); !slices.Equal(e, wantEdges) {
		t.Fatalf("call graph on Lambda %v, want %v", e, wantEdges)
	}
	for _, s := range spans {
		if s.Caller != "" && !s.Remote {
			t.Errorf("span %s→%s crossed functions but is not marked remote", s.Caller, s.Task)
		}
	}
	if len(em.DeadLetters()) != 0 {
		t.Errorf("dead letters: %+v", em.DeadLetters())
	}
	logColdStarts(t, em, app.Name, su)

	// The same app fused into one function gives the same bytes.
	fused := setup.Fused(0, "all", app.TaskNames(), setup.Place{Provider: "aws", Region: "us-east-1"}, 1024)
	if fused.Version, err = cp.client.ApplySetup(ctx, fused); err != nil {
		t.Fatal(err)
	}
	d := adapters.Deployment{App: app.Name, Version: fused.Version, Group: fused.Groups[0], ControlPlane: cp.addr, Token: cp.token}
	ep, err := a.Deploy(ctx, d)
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, em.Logs(aws.FunctionName(app.Name, "all")))
	}
	got, err = tr.Call(ctx, ep.Endpoint, host.Call{Task: app.Entry, Input: []byte(app.Input)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fused on Lambda the app returned\n%s\nfused locally\n%s", got, want)
	}
	logColdStarts(t, em, app.Name, fused)
}

// logColdStarts logs, per group of su, what the emulator reported for the
// environments it started (emulated figures): init duration, the first
// invocation's duration and the peak memory.
func logColdStarts(t *testing.T, em *lambdaemu.Emulator, app string, su *setup.Setup) {
	t.Helper()
	for _, g := range su.Groups {
		for _, r := range em.Reports(aws.FunctionName(app, g.Name)) {
			if r.Cold && r.Version != "$LATEST" {
				t.Logf("cold start (emulated) %-4s %4d MB: init %7.1f ms, first invocation %6.1f ms, max memory %3d MB",
					g.Name, r.MemorySizeMB, float64(r.InitDuration.Microseconds())/1000, float64(r.Duration.Microseconds())/1000, r.MaxMemoryUsed)
				break
			}
		}
	}
}

// fusedResult runs app's entry task with every task in one local host.
func fusedResult(t *testing.T, app *manifest.App) []byte {
	t.Helper()
	fused := newHost(t, host.Config{Name: "fused", Group: "all", App: app.Name})
	if err := fused.LoadApp(context.Background(), app, nil, nil); err != nil {
		t.Fatal(err)
	}
	want, err := fused.Invoke(context.Background(), app.Entry, []byte(app.Input))
	if err != nil {
		t.Fatal(err)
	}
	closeHosts(t, fused)
	return want
}

type testControlPlane struct {
	addr, token string
	client      *client.Client
}

// controlPlane serves a control plane on loopback for the test.
func controlPlane(t *testing.T) testControlPlane {
	t.Helper()
	srv, err := server.New(server.Options{
		DataDir: t.TempDir(), App: "iot", Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		ShutdownTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("control plane: %v", err)
		}
	})
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	c, err := client.Dial(dctx, srv.Addr(), srv.Token())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return testControlPlane{addr: srv.Addr(), token: srv.Token(), client: c}
}

// lambdaEmulator serves a Lambda emulator on loopback for the test.
func lambdaEmulator(t *testing.T) (*lambdaemu.Emulator, string) {
	t.Helper()
	em, err := lambdaemu.New(lambdaemu.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- em.Serve(ctx, l) }()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if err := em.Close(cctx); err != nil {
			t.Errorf("emulator close: %v", err)
		}
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("emulator: %v", err)
		}
	})
	return em, "http://" + l.Addr().String()
}
