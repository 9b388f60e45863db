package main

// End-to-end tests of the local deployment: a real control plane, the local
// adapter starting real `fusionize host` processes (this command, built once
// per test run), real gRPC between them. Skipped with -short.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters"

	"github.com/fusionize/fusionize/adapters/local"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/fuser/deploy"
	"github.com/fusionize/fusionize/fuser/invoke"
	"github.com/fusionize/fusionize/guest-sdk/build"
	"github.com/fusionize/fusionize/host"
)

var binary string // the fusionize command, built by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fusionize-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "fusionize")
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var buildOnce sync.Once

// requireBuildTools skips the test when a tool that building the app at dir
// needs (wat2wasm, the AssemblyScript compiler) is missing, except in CI.
func requireBuildTools(t *testing.T, dir string) {
	t.Helper()
	app, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := build.CheckTools(app, build.Options{}); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%v\n(required when CI is set; make setup installs every tool)", err)
		}
		t.Fatal(err)
	}
}

func buildBinary(t *testing.T) {
	t.Helper()
	var err error
	var out []byte
	buildOnce.Do(func() {
		out, err = exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	})
	if err != nil {
		t.Fatalf("build fusionize: %v\n%s", err, out)
	}
}

type cluster struct {
	ad  *local.Adapter
	cp  *server.ControlPlane
	cli *client.Client
	dep *deploy.Deployer
	inv *invoke.Invoker
	app *manifest.App
}

// startCluster runs a control plane and a deployer with the local adapter,
// uploads app's modules and returns once the separate setup is active.
func startCluster(t *testing.T, appDir string) *cluster {
	t.Helper()
	requireBuildTools(t, appDir)
	buildBinary(t)
	app, err := manifest.Load(appDir)
	if err != nil {
		t.Fatal(err)
	}
	results, err := build.Build(context.Background(), app, build.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cp, err := server.New(server.Options{DataDir: data, App: app.Name, Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// The hosts' --data-dir only holds their compilation cache: share it
	// with the other tests of the repository, so each module compiles once.
	shared := filepath.Join(os.TempDir(), "fusionize-test")
	ad := local.New(local.Options{Command: []string{binary, "host", "--data-dir", shared}, Dir: filepath.Join(data, "local"), Logger: log})
	dep := deploy.New(cp.Store(), adapters.Adapters{local.Provider: ad}, deploy.Options{App: app.Name, ControlPlane: cp.Addr(), Token: cp.Token(), Grace: 300 * time.Millisecond, Logger: log})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = cp.Serve(ctx) }()
	go func() { defer wg.Done(); _ = dep.Run(ctx) }()
	cli, err := client.Dial(ctx, cp.Addr(), cp.Token())
	if err != nil {
		t.Fatal(err)
	}
	inv := invoke.New(cli, invoke.WithInvokeToken(cp.InvokeToken()))
	t.Cleanup(func() {
		_ = inv.Close()
		_ = cli.Close()
		cancel()
		wg.Wait()
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := ad.Close(cctx); err != nil {
			t.Errorf("adapter close: %v", err)
		}
	})
	for _, r := range results {
		if _, err := cli.UploadModuleFile(ctx, r.Task, r.Module); err != nil {
			t.Fatal(err)
		}
	}
	c := &cluster{ad: ad, cp: cp, cli: cli, dep: dep, inv: inv, app: app}
	c.apply(t, setup.Separate(0, app.TaskNames(), setup.Place{Provider: "local"}, 128))
	return c
}

// apply applies su and waits until it serves.
func (c *cluster) apply(t *testing.T, su *setup.Setup) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v, err := c.cli.ApplySetup(ctx, su)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.dep.Wait(ctx, v); err != nil {
		t.Fatalf("setup version %d: %v", v, err)
	}
	return v
}

// fused runs app once in one in-process host with every task fused.
func fused(t *testing.T, app *manifest.App, input []byte) []byte {
	t.Helper()
	ctx := context.Background()
	h, err := host.New(ctx, host.Config{App: app.Name, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if err := h.LoadApp(ctx, app, nil, nil); err != nil {
		t.Fatal(err)
	}
	out, err := h.Invoke(ctx, app.Entry, input)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSeparateProcessesAndLiveSwitch runs the IoT app with every task in its
// own host process, checks it answers as the fused run does, then switches
// setups twice under load and expects zero failed requests.
func TestSeparateProcessesAndLiveSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and host processes")
	}
	c := startCluster(t, filepath.Join("..", "..", "examples", "iot"))
	input := []byte(c.app.Input)
	want := fused(t, c.app, input)
	ctx := context.Background()
	res, err := c.inv.Invoke(ctx, c.app.Entry, input)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Output, want) {
		t.Fatalf("separate processes returned\n%s\nfused returned\n%s", res.Output, want)
	}

	// Load through two switches.
	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var mu sync.Mutex
	versions := map[int64]int{}
	var firstErr error
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				r, err := c.inv.Invoke(rctx, c.app.Entry, input)
				cancel()
				mu.Lock()
				if err != nil || !bytes.Equal(r.Output, want) {
					failed.Add(1)
					if firstErr == nil {
						firstErr = fmt.Errorf("request failed: %v (output %q)", err, r.Output)
					}
				} else {
					ok.Add(1)
					versions[r.Version]++
				}
				mu.Unlock()
			}
		}()
	}
	local := setup.Place{Provider: "local"}
	paper := &setup.Setup{Groups: []setup.Group{
		{Name: "I", Tasks: []string{"I", "CW", "SE"}, MemoryMB: 128, Place: local},
		{Name: "CA", Tasks: []string{"CA", "DJ"}, MemoryMB: 128, Place: local},
		{Name: "CS", Tasks: []string{"CS", "CSA", "CSL"}, MemoryMB: 128, Place: local},
		{Name: "CT", Tasks: []string{"CT"}, MemoryMB: 128, Place: local},
		{Name: "AS", Tasks: []string{"AS"}, MemoryMB: 128, Place: local},
	}}
	time.Sleep(500 * time.Millisecond)
	v2 := c.apply(t, paper)
	time.Sleep(500 * time.Millisecond)
	v3 := c.apply(t, setup.Fused(0, "all", c.app.TaskNames(), setup.Place{Provider: "local"}, 256))
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("requests through two switches: %d ok, %d failed; by setup version: %v", ok.Load(), failed.Load(), versions)
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed during the switches; first: %v", failed.Load(), firstErr)
	}
	if versions[v2] == 0 || versions[v3] == 0 {
		t.Fatalf("load did not reach both new setups: %v", versions)
	}
}
