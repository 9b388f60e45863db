package main

// End-to-end tests of the local deployment: a real control plane, the local
// adapter starting real `fusionize host` processes (this command, built once
// per test run), real gRPC between them. Skipped with -short.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
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
	dep := deploy.New(cp.Store(), adapters.Adapters{local.Provider: ad}, deploy.Options{App: app.Name, ControlPlane: cp.Addr(), Token: cp.Token(), Grace: 300 * time.Millisecond, Logger: log,
		// As serve --app-dir does: module-fused groups get their fused module.
		Prepare: deploy.FusedModules(app, cp.Store(), deploy.FusedOptions{Check: host.CheckOptions{CacheDir: filepath.Join(shared, "cache")}})})
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
// setups twice under load and expects zero failed requests on every path a
// client takes: directly to the hosts (fuser/invoke, following the routes
// itself), through the control plane's stable entry point over gRPC (what
// 'fusionize invoke' does) and over REST (POST /v1/invoke/{task}, which
// reports the serving version in Fusionize-Setup-Version).
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
	entry := invoke.NewEntry(c.cp.Addr(), invoke.WithInvokeToken(c.cp.InvokeToken()))
	defer entry.Close()
	rest := restEntry(c.cp.HTTPAddr(), c.cp.InvokeToken())

	// Load through two switches: two clients on each path.
	paths := map[string]func(context.Context, string, []byte) (int64, []byte, error){
		"direct": func(ctx context.Context, task string, in []byte) (int64, []byte, error) {
			r, err := c.inv.Invoke(ctx, task, in)
			return r.Version, r.Output, err
		},
		"entry-grpc": func(ctx context.Context, task string, in []byte) (int64, []byte, error) {
			r, err := entry.Invoke(ctx, task, in)
			return r.Version, r.Output, err
		},
		"entry-rest": rest,
	}
	stop := make(chan struct{})
	var mu sync.Mutex
	ok, failed := map[string]int{}, map[string]int{}
	versions := map[string]map[int64]int{}
	var firstErr error
	var wg sync.WaitGroup
	for name, call := range paths {
		versions[name] = map[int64]int{}
		for range 2 {
			wg.Go(func() {
				for i := 0; i < 5000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					v, out, err := call(rctx, c.app.Entry, input)
					cancel()
					mu.Lock()
					if err != nil || !bytes.Equal(out, want) {
						failed[name]++
						if firstErr == nil {
							firstErr = fmt.Errorf("%s: request failed: %v (output %q)", name, err, out)
						}
					} else {
						ok[name]++
						versions[name][v]++
					}
					mu.Unlock()
				}
			})
		}
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
	t.Logf("requests through two switches: ok %v, failed %v; by setup version: %v", ok, failed, versions)
	for name := range paths {
		if failed[name] != 0 {
			t.Errorf("%d requests failed on path %s during the switches", failed[name], name)
		}
		if ok[name] == 0 {
			t.Errorf("no request answered on path %s", name)
		}
	}
	if firstErr != nil {
		t.Fatalf("first failure: %v", firstErr)
	}
	for _, name := range []string{"direct", "entry-rest"} { // the paths that say which version served
		if versions[name][v2] == 0 || versions[name][v3] == 0 {
			t.Fatalf("load on path %s did not reach both new setups: %v", name, versions[name])
		}
	}
}

// restEntry returns a client of the entry point's REST face at httpAddr:
// POST /v1/invoke/{task} with the invoke token, the setup version from the
// Fusionize-Setup-Version response header.
func restEntry(httpAddr, token string) func(context.Context, string, []byte) (int64, []byte, error) {
	return func(ctx context.Context, task string, in []byte) (int64, []byte, error) {
		body, err := json.Marshal(map[string][]byte{"input": in})
		if err != nil {
			return 0, nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+"/v1/invoke/"+task, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return 0, nil, err
		}
		if res.StatusCode != http.StatusOK {
			return 0, nil, fmt.Errorf("POST /v1/invoke/%s: %s: %s", task, res.Status, b)
		}
		var out struct{ Output []byte }
		if err := json.Unmarshal(b, &out); err != nil {
			return 0, nil, fmt.Errorf("POST /v1/invoke/%s answered %s: %w", task, b, err)
		}
		v, err := strconv.ParseInt(res.Header.Get("Fusionize-Setup-Version"), 10, 64)
		if err != nil {
			return 0, nil, fmt.Errorf("POST /v1/invoke/%s: Fusionize-Setup-Version: %w", task, err)
		}
		return v, out.Output, nil
	}
}
