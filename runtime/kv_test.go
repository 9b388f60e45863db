package runtime_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/runtime"
)

var (
	gkvOnce sync.Once
	gkvDir  string
	gkvErr  error
)

// gkvModules returns a module directory holding host's Go test task gkv
// (put its input under "k", read it back) as kv.wasm, built once.
func gkvModules(t *testing.T) runtime.Dir {
	t.Helper()
	gkvOnce.Do(func() {
		gkvDir, gkvErr = os.MkdirTemp("", "fusionize-runtime-kv")
		if gkvErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath",
			"-o", filepath.Join(gkvDir, "kv.wasm"), "../host/testdata/go/gkv")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			gkvErr = err
			t.Logf("%s", out)
		}
	})
	if gkvErr != nil {
		t.Fatal(gkvErr)
	}
	return runtime.Dir(gkvDir)
}

// startControlPlane serves a control plane on dir at addr ("127.0.0.1:0"
// for any port) until the returned stop is called.
func startControlPlane(t *testing.T, dir, addr string) (cp *server.ControlPlane, stop func()) {
	t.Helper()
	cp, err := server.New(server.Options{DataDir: dir, App: "kvapp", Addr: addr, HTTPAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- cp.Serve(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return cp, stop
}

func kvSetup(version int64) *setup.Setup {
	return &setup.Setup{Version: version, Groups: []setup.Group{
		{Name: "g", Tasks: []string{"kv"}, MemoryMB: 128, Place: setup.Place{Provider: "local"}},
	}}
}

func kvHost(t *testing.T, version int64, kv host.KV) *host.Host {
	t.Helper()
	h, err := runtime.NewHost(t.Context(), runtime.GroupConfig{
		App: "kvapp", Setup: kvSetup(version), Group: "g", Modules: gkvModules(t), Host: host.Config{KV: kv},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

// TestControlPlaneKVOutlivesHostsAndControlPlane writes through a task on
// one host, reads it from a host of another setup version and, after the
// control plane restarts, from a third.
func TestControlPlaneKVOutlivesHostsAndControlPlane(t *testing.T) {
	dir := t.TempDir()
	cp, stop := startControlPlane(t, dir, "127.0.0.1:0")
	addr, token := cp.Addr(), cp.Token()
	c, err := client.Dial(t.Context(), addr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kv := runtime.NewControlPlaneKV(c, "kvapp")

	h1 := kvHost(t, 1, kv)
	out, err := h1.Invoke(t.Context(), "kv", []byte("written by v1"))
	if err != nil || string(out) != "written by v1" {
		t.Fatalf("put through the task: %q, %v", out, err)
	}
	if v, ok, err := c.GetValue(t.Context(), "kvapp", "k"); err != nil || !ok || string(v) != "written by v1" {
		t.Fatalf("the control plane holds %q, %v, %v", v, ok, err)
	}
	h2 := kvHost(t, 2, kv)
	if v, ok, err := kv.Get(t.Context(), "k"); err != nil || !ok || string(v) != "written by v1" {
		t.Fatalf("a host of version 2 reads %q, %v, %v", v, ok, err)
	}
	if out, err := h2.Invoke(t.Context(), "kv", []byte("missing")); err != nil || string(out) != "absent" {
		t.Fatalf("an unwritten key: %q, %v", out, err)
	}

	// While the control plane is away a write fails, naming why; it is
	// not kept anywhere to be sent later.
	stop()
	_, err = h2.Invoke(t.Context(), "kv", []byte("lost?"))
	if err == nil || !strings.Contains(err.Error(), `put "k" of app "kvapp"`) {
		t.Fatalf("put with the control plane away: %v, want an error naming the put", err)
	}

	_, _ = startControlPlane(t, dir, addr)
	h3 := kvHost(t, 3, kv)
	if v, ok, err := kv.Get(t.Context(), "k"); err != nil || !ok || string(v) != "written by v1" {
		t.Fatalf("after a control-plane restart: %q, %v, %v", v, ok, err)
	}
	if out, err := h3.Invoke(t.Context(), "kv", []byte("written by v3")); err != nil || string(out) != "written by v3" {
		t.Fatalf("put after the restart: %q, %v", out, err)
	}
}

func TestControlPlaneKVWithoutAppNamesTheProblem(t *testing.T) {
	kv := runtime.NewControlPlaneKV(nil, "")
	if err := kv.Put(t.Context(), "k", nil); err == nil || !strings.Contains(err.Error(), "no application name") {
		t.Fatalf("Put = %v", err)
	}
}
