package examples_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/controlplane/store"
	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
	"github.com/fusionize/fusionize/emulators/lambda/lambdatest"
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
	cp.uploadModules(ctx, t, app)
	su := setup.Separate(0, app.TaskNames(), setup.Place{Provider: "aws", Region: "us-east-1"}, 512)
	v, err := cp.client.ApplySetup(ctx, su)
	if err != nil {
		t.Fatal(err)
	}
	su.Version = v

	em, url := lambdaEmulator(t)
	a, err := aws.New(ctx, aws.Options{Endpoint: url, Timeout: 30, Drain: -1, Logger: slog.New(slog.DiscardHandler)})
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
	entries := 0
	for _, s := range spans {
		if s.Caller != "" && !s.Remote {
			t.Errorf("span %s→%s crossed functions but is not marked remote", s.Caller, s.Task)
		}
		// Each function's entry span carries what Lambda bills for it.
		if s.Billed < s.Duration || s.Billed%time.Millisecond != 0 || s.MemoryMB != 512 {
			t.Errorf("span of %s (caller %q): billed %s for %s at %d MB; want the duration rounded up to 1 ms at 512 MB", s.Task, s.Caller, s.Billed, s.Duration, s.MemoryMB)
		}
		if s.CPU <= 0 {
			t.Errorf("span of %s (caller %q): no CPU time; an entry span carries its invocation's", s.Task, s.Caller)
		}
		entries++
	}
	if want := len(graphs["iot"]) + 1; entries != want { // every call and the request
		t.Errorf("%d spans, want %d", entries, want)
	}
	if len(em.DeadLetters()) != 0 {
		t.Errorf("dead letters: %+v", em.DeadLetters())
	}
	logColdStarts(t, em, a, app.Name, su)

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
	logColdStarts(t, em, a, app.Name, fused)
}

// logColdStarts logs, per group of su, its package size and what the
// emulator reported for the first environment it started (emulated
// figures): init duration, the first invocation's duration, peak memory.
func logColdStarts(t *testing.T, em *lambdaemu.Emulator, a *aws.Adapter, app string, su *setup.Setup) {
	t.Helper()
	for _, g := range su.Groups {
		name := aws.FunctionName(app, g.Name)
		var size int64
		if cfg, err := a.Client().GetFunctionConfiguration(context.Background(), &lambda.GetFunctionConfigurationInput{FunctionName: &name}); err == nil {
			size = cfg.CodeSize
		}
		for _, r := range em.Reports(name) {
			if r.Cold && r.Version != "$LATEST" {
				t.Logf("%-4s %4d MB: package %5.1f MB; cold start (emulated): init %7.1f ms, first invocation %6.1f ms, max memory %3d MB",
					g.Name, r.MemorySizeMB, float64(size)/(1<<20), float64(r.InitDuration.Microseconds())/1000, float64(r.Duration.Microseconds())/1000, r.MaxMemoryUsed)
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
	store       *store.Store
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
	return testControlPlane{addr: srv.Addr(), token: srv.Token(), client: c, store: srv.Store()}
}

// uploadModules uploads the built module of every task of app.
func (cp testControlPlane) uploadModules(ctx context.Context, t *testing.T, app *manifest.App) {
	t.Helper()
	for _, tk := range app.Tasks {
		if _, err := cp.client.UploadModuleFile(ctx, tk.Name, app.ModulePath(&tk)); err != nil {
			t.Fatal(err)
		}
	}
}

// lambdaEmulator serves a Lambda emulator on loopback for the test.
func lambdaEmulator(t *testing.T) (*lambdaemu.Emulator, string) {
	t.Helper()
	return lambdatest.Start(t, lambdaemu.Options{})
}
