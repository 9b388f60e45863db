package examples_test

// The IoT group, its ten Go tasks instance-fused (a module and an instance
// each) and module-fused (one module, one instance), in one run:
//
//	go test ./examples/ -run '^$' -bench 'IoTGroup' -benchtime 5x -count 1
//
// load: a new host loads the group from a warm compilation cache to ready
// (compile from the cache, instantiate one warm instance per module);
// instantiate: one instance of the group from compiled modules (each
// module's _initialize included); peak-RSS: a child process loads the group,
// serves one request and reports its peak resident set (VmHWM).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/guest-sdk/build"
	"github.com/fusionize/fusionize/host"
)

var fusionModes = []string{"instance-fused", "module-fused"}

// iotModules returns the module files of the IoT group in mode.
func iotModules(b testing.TB, app *manifest.App, mode string) []string {
	if mode == "module-fused" {
		return []string{buildFused(b, app, app.TaskNames()).Module}
	}
	var out []string
	for _, tk := range app.Tasks {
		out = append(out, app.ModulePath(&tk))
	}
	return out
}

// loadIoT loads the IoT group into h; fused is its module-fused build.
func loadIoT(b testing.TB, h *host.Host, app *manifest.App, mode string, fused *build.FusedResult) {
	if mode == "module-fused" {
		loadModuleFused(b, h, app, app.TaskNames(), fused)
		return
	}
	if err := h.LoadApp(context.Background(), app, nil, nil); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkIoTGroupLoadWarmCache(b *testing.B) {
	app := buildAppB(b, "iot")
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, mode := range fusionModes {
		b.Run(mode, func(b *testing.B) {
			// Built (or found in the build cache) once: the load timed is
			// the host's, from the module file on.
			var fused *build.FusedResult
			if mode == "module-fused" {
				fused = buildFused(b, app, app.TaskNames())
			}
			warm, err := host.New(ctx, host.Config{CacheDir: cacheDir, Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			loadIoT(b, warm, app, mode, fused)
			_ = warm.Close(ctx)
			b.ReportAllocs()
			for b.Loop() {
				h, err := host.New(ctx, host.Config{CacheDir: cacheDir, Logger: log})
				if err != nil {
					b.Fatal(err)
				}
				loadIoT(b, h, app, mode, fused)
				b.StopTimer()
				_ = h.Close(ctx)
				b.StartTimer()
			}
		})
	}
}

// stubImports are the fusionize imports with the ABI's signatures; an
// instantiation never calls them (imports return INTERNAL during
// _initialize in a real host).
var stubImports = map[string][2]int{ // name → params, results (all i32)
	"output": {2, 1}, "call": {6, 1}, "call_async": {4, 1}, "call_start": {4, 1},
	"call_wait": {3, 1}, "take": {2, 1}, "log": {3, 0}, "kv_put": {4, 1}, "kv_get": {4, 1},
	"span_begin": {2, 1}, "span_end": {3, 1},
}

func BenchmarkIoTGroupInstantiate(b *testing.B) {
	app := buildAppB(b, "iot")
	ctx := context.Background()
	for _, mode := range fusionModes {
		b.Run(mode, func(b *testing.B) {
			cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
			if err != nil {
				b.Fatal(err)
			}
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache))
			defer rt.Close(ctx)
			wasi_snapshot_preview1.MustInstantiate(ctx, rt)
			hb := rt.NewHostModuleBuilder("fusionize")
			for name, sig := range stubImports {
				params := make([]api.ValueType, sig[0])
				for i := range params {
					params[i] = api.ValueTypeI32
				}
				results := make([]api.ValueType, sig[1])
				for i := range results {
					results[i] = api.ValueTypeI32
				}
				hb.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
					if len(stack) > 0 {
						stack[0] = api.EncodeI32(-8)
					}
				}), params, results).Export(name)
			}
			if _, err := hb.Instantiate(ctx); err != nil {
				b.Fatal(err)
			}
			var compiled []wazero.CompiledModule
			for _, path := range iotModules(b, app, mode) {
				wasm, err := os.ReadFile(path)
				if err != nil {
					b.Fatal(err)
				}
				cm, err := rt.CompileModule(ctx, wasm)
				if err != nil {
					b.Fatal(err)
				}
				compiled = append(compiled, cm)
			}
			cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize").
				WithSysWalltime().WithSysNanotime()
			b.ReportAllocs()
			for b.Loop() {
				mods := make([]api.Module, 0, len(compiled))
				for _, cm := range compiled {
					m, err := rt.InstantiateModule(ctx, cm, cfg)
					if err != nil {
						b.Fatal(err)
					}
					mods = append(mods, m)
				}
				b.StopTimer()
				for _, m := range mods {
					_ = m.Close(ctx)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkIoTGroupPeakRSS starts one child process per iteration (the test
// binary running TestIoTGroupPeakRSSChild) and reports its peak RSS.
func BenchmarkIoTGroupPeakRSS(b *testing.B) {
	app := buildAppB(b, "iot")
	for _, mode := range fusionModes {
		b.Run(mode, func(b *testing.B) {
			fused := ""
			if mode == "module-fused" {
				fused = buildFused(b, app, app.TaskNames()).Module
			}
			var peak, loaded, ready float64
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run", "^TestIoTGroupPeakRSSChild$")
				cmd.Env = append(os.Environ(), "FUSIONIZE_RSS_MODE="+mode, "FUSIONIZE_RSS_FUSED="+fused)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("child: %v\n%s", err, out)
				}
				kb, ms, loadKB := parseChild(b, string(out))
				peak, loaded, ready = max(peak, kb/1024), max(loaded, loadKB/1024), ready+ms
			}
			b.ReportMetric(peak, "peak-RSS-MB")
			b.ReportMetric(loaded, "loaded-RSS-MB")
			b.ReportMetric(ready/float64(b.N), "ms-to-first-answer")
		})
	}
}

func parseChild(b *testing.B, out string) (kb, ms, loadKB float64) {
	sc := bufio.NewScanner(strings.NewReader(out))
	found := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "rss-child" {
			var err1, err2, err3 error
			kb, err1 = strconv.ParseFloat(f[1], 64)
			ms, err2 = strconv.ParseFloat(f[2], 64)
			loadKB, err3 = strconv.ParseFloat(f[3], 64)
			if err1 != nil || err2 != nil || err3 != nil {
				b.Fatalf("child line %q", sc.Text())
			}
			found++
		}
	}
	if found != 1 {
		b.Fatalf("child printed no figures:\n%s", out)
	}
	return kb, ms, loadKB
}

// TestIoTGroupPeakRSSChild is the child of BenchmarkIoTGroupPeakRSS: it
// loads the IoT group from the warm compilation cache, serves the app's
// request, waits for its async calls and prints "rss-child <VmHWM kB> <ms
// from its start to the first answer> <VmHWM kB once loaded>".
func TestIoTGroupPeakRSSChild(t *testing.T) {
	mode := os.Getenv("FUSIONIZE_RSS_MODE")
	if mode == "" {
		t.Skip("run by BenchmarkIoTGroupPeakRSS")
	}
	start := time.Now()
	app, err := manifest.Load("iot")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.New(ctx, host.Config{CacheDir: cacheDir, Logger: slog.New(slog.DiscardHandler), App: app.Name, Group: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if mode == "module-fused" {
		path := os.Getenv("FUSIONIZE_RSS_FUSED")
		if err := h.LoadFusedFile(ctx, app.TaskNames(), path, ""); err != nil {
			t.Fatal(err)
		}
	} else if err := h.LoadApp(ctx, app, nil, nil); err != nil {
		t.Fatal(err)
	}
	loaded := vmHWM(t)
	if _, err := h.Invoke(ctx, app.Entry, []byte(app.Input)); err != nil {
		t.Fatal(err)
	}
	ready := time.Since(start)
	for !h.Quiet(50 * time.Millisecond) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rss-child %s %.1f %s\n", vmHWM(t), float64(ready.Microseconds())/1000, loaded)
}

// vmHWM returns the process's peak resident set in kB, as /proc reports it.
func vmHWM(t *testing.T) string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status: peak RSS is measured on Linux only")
	}
	for line := range strings.Lines(string(status)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			return f[1]
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return ""
}
