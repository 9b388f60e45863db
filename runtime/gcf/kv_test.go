package gcf_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/runtime/gcf"
)

// TestFunctionKeepsValuesInTheControlPlane loads a function whose task
// writes with kv_put (host's Go test task gkv) with $FUSIONIZE_CONTROL_PLANE
// set: the value lands in the app's store on the control plane.
func TestFunctionKeepsValuesInTheControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go guest; skipped with -short")
	}
	kvWasm := filepath.Join(t.TempDir(), "kv.wasm")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", kvWasm, "../../host/testdata/go/gkv")
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gkv: %v\n%s", err, out)
	}
	b, err := os.ReadFile(kvWasm)
	if err != nil {
		t.Fatal(err)
	}

	cp, err := server.New(server.Options{DataDir: t.TempDir(), App: "shop", Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	t.Setenv(gcf.EnvControlPlane, cp.Addr())
	t.Setenv(gcf.EnvToken, cp.Token())

	su := &setup.Setup{Version: 1, Groups: []setup.Group{{Name: "g", Tasks: []string{"kv"}, MemoryMB: 256, Place: setup.Place{Provider: "gcp"}}}}
	sum := sha256.Sum256(b)
	src := gcf.Source{GoMod: []byte("module x\n"), Vendor: map[string][]byte{"modules.txt": nil},
		Config:  gcf.Config{App: "shop", SetupVersion: 1, Group: "g", MemoryMB: 256, Setup: su},
		Modules: []gcf.Module{{Task: "kv", Digest: "sha256:" + hex.EncodeToString(sum[:]), Wasm: b}}}
	files, err := src.Files()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fn, err := gcf.Load(t.Context(), gcf.Options{SourceDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := fn.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	out, err := fn.Host.Invoke(t.Context(), "kv", []byte("cart of s-1"))
	if err != nil || string(out) != "cart of s-1" {
		t.Fatalf("invoke: %q, %v", out, err)
	}
	c, err := client.Dial(t.Context(), cp.Addr(), cp.Token())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, ok, err := c.GetValue(t.Context(), "shop", "k"); err != nil || !ok || string(v) != "cart of s-1" {
		t.Fatalf("the control plane holds %q, %v, %v; want the function's write", v, ok, err)
	}
}
