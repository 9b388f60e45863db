package host

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// buildGuest builds testdata/go/<name> into dir.
func buildGuest(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	out := filepath.Join(dir, name+".wasm")
	cmd := exec.CommandContext(context.Background(), "go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./testdata/go/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build %s: %v\n%s", name, err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return wasm
}

func quietHost(tb testing.TB, cacheDir string) *Host {
	tb.Helper()
	h, err := New(context.Background(), Config{CacheDir: cacheDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

// (d) Instantiate (and _initialize) one Go task from an already compiled
// module.
func BenchmarkInstantiateGo(b *testing.B) {
	benchInstantiate(b, "noop", buildGuest(b, b.TempDir(), "noop"))
}

// (d') Instantiate a tiny WAT task.
func BenchmarkInstantiateWAT(b *testing.B) {
	wasm, err := os.ReadFile("testdata/echo.wasm")
	if err != nil {
		b.Fatal(err)
	}
	benchInstantiate(b, "echo", wasm)
}

func benchInstantiate(b *testing.B, name string, wasm []byte) {
	h := quietHost(b, "")
	ctx := context.Background()
	cm, _, err := h.compile(ctx, name, wasm, "")
	if err != nil {
		b.Fatal(err)
	}
	t := &pool{h: h, compiled: cm, abi: ABIVersion}
	t.tasks = []*task{{name: name, pool: t, index: -1}}
	b.ReportAllocs()
	for b.Loop() {
		inst, err := t.instantiate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		h.instances.Delete(inst.mod)
		_ = inst.mod.Close(ctx)
	}
}

// (e) Compile a Go task with no cache, and from a warm on-disk cache (a new
// runtime each time, as a restarted host would).
func BenchmarkCompileGo(b *testing.B) {
	dir := b.TempDir()
	wasm := buildGuest(b, dir, "noop")
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := quietHost(b, "")
			cm, _, err := h.compile(ctx, "noop", wasm, "")
			if err != nil {
				b.Fatal(err)
			}
			_ = cm.Close(ctx)
			_ = h.Close(ctx)
		}
	})
	cache := filepath.Join(dir, "cache")
	warm := quietHost(b, cache)
	if _, _, err := warm.compile(ctx, "noop", wasm, ""); err != nil {
		b.Fatal(err)
	}
	b.Run("disk-cache", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := quietHost(b, cache)
			cm, _, err := h.compile(ctx, "noop", wasm, "")
			if err != nil {
				b.Fatal(err)
			}
			_ = cm.Close(ctx)
			_ = h.Close(ctx)
		}
	})
}
