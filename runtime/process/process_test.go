package process_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/runtime/process"
)

var quiet = slog.New(slog.DiscardHandler)

// startHost serves a control plane holding the echo task, applies a setup
// with one group, and runs a host process for it until the returned
// cancel; run's result arrives on done.
func startHost(t *testing.T, opts process.Options) (cp *server.ControlPlane, stopCP func(), c *client.Client, cancel func(), done <-chan error) {
	t.Helper()
	cp, err := server.New(server.Options{DataDir: t.TempDir(), App: "p", Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cpCtx, cpCancel := context.WithCancel(context.Background())
	cpDone := make(chan error, 1)
	go func() { cpDone <- cp.Serve(cpCtx) }()
	stopped := false
	stopCP = func() {
		if !stopped {
			stopped = true
			cpCancel()
			if err := <-cpDone; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stopCP)
	c, err = client.Dial(t.Context(), cp.Addr(), cp.Token())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.UploadModuleFile(t.Context(), "echo", filepath.Join("..", "..", "host", "testdata", "echo.wasm")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplySetup(t.Context(), &setup.Setup{Groups: []setup.Group{
		{Name: "g", Tasks: []string{"echo"}, MemoryMB: 128, Place: setup.Place{Provider: "local"}},
	}}); err != nil {
		t.Fatal(err)
	}
	opts.App, opts.Group, opts.ControlPlane, opts.Token, opts.InvokeToken = "p", "g", cp.Addr(), cp.Token(), cp.InvokeToken()
	opts.ReadyFile = filepath.Join(t.TempDir(), "ready.json")
	opts.Logger = quiet
	ctx, cancelRun := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runDone <- process.Run(ctx, opts)
		close(exited)
	}()
	t.Cleanup(func() {
		cancelRun()
		select {
		case <-exited:
		case <-time.After(time.Minute):
			t.Error("host did not stop within a minute")
		}
	})
	waitFor(t, "the ready file", func() bool {
		select {
		case <-exited:
			t.Fatalf("host stopped before it was ready: %v", <-runDone)
		default:
		}
		_, err := process.ReadReady(opts.ReadyFile)
		return err == nil
	})
	return cp, stopCP, c, cancelRun, runDone
}

// waitFor polls cond; the minute is a bound on a hung test, not a figure
// the test measures.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after a minute", what)
		}
	}
}

func TestHostDeregistersWhenItStops(t *testing.T) {
	_, _, c, cancel, done := startHost(t, process.Options{})
	waitFor(t, "registered host", func() bool { hs, _ := c.Hosts(t.Context()); return len(hs) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if hs, err := c.Hosts(t.Context()); err != nil || len(hs) != 0 {
		t.Fatalf("hosts right after the host stopped: %v, %v; want none", hs, err)
	}
}

func TestHostStopsAfterLosingItsControlPlane(t *testing.T) {
	_, stopCP, _, _, done := startHost(t, process.Options{Heartbeat: 50 * time.Millisecond, OrphanAfter: 300 * time.Millisecond})
	select {
	case err := <-done:
		t.Fatalf("host stopped with its control plane up: %v", err)
	case <-time.After(time.Second): // several heartbeats succeed
	}
	stopCP()
	select {
	case err := <-done:
		if !errors.Is(err, process.ErrOrphaned) {
			t.Fatalf("Run = %v, want ErrOrphaned", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("host still runs a minute after its control plane went away")
	}
}
