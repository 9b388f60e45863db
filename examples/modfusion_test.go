package examples_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/guest-sdk/build"
	"github.com/fusionize/fusionize/host"
)

// fusedCacheDir keeps the fused modules the tests build, by the digest of
// their inputs, across test runs.
var fusedCacheDir = filepath.Join(os.TempDir(), "fusionize-test", "fused")

// goAndOther splits tasks into the Go tasks of app and the others (WAT),
// which keep a module of their own.
func goAndOther(app *manifest.App, tasks []string) (goTasks, other []string) {
	for _, n := range tasks {
		if t, ok := app.Task(n); ok && (t.Lang == manifest.LangGo || t.Lang == "") {
			goTasks = append(goTasks, n)
		} else {
			other = append(other, n)
		}
	}
	return goTasks, other
}

// buildFused builds the fused module of app's Go tasks among tasks.
func buildFused(t testing.TB, app *manifest.App, tasks []string) *build.FusedResult {
	t.Helper()
	goTasks, _ := goAndOther(app, tasks)
	res, err := build.BuildFused(context.Background(), app, goTasks, build.Options{CacheDir: fusedCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// loadModuleFused loads tasks of app into h module-fused: the Go tasks as
// one fused module, every other task as a module of its own.
func loadModuleFused(t testing.TB, h *host.Host, app *manifest.App, tasks []string, fused *build.FusedResult) {
	t.Helper()
	ctx := context.Background()
	if err := h.LoadFusedFile(ctx, fused.Tasks, fused.Module, fused.Digest); err != nil {
		t.Fatal(err)
	}
	_, other := goAndOther(app, tasks)
	if len(other) == 0 {
		return
	}
	if err := h.LoadApp(ctx, app, other, nil); err != nil {
		t.Fatal(err)
	}
}

// edgeCounts counts the calls of each call edge, in the notation of
// graphs: a span stands for span.Span.Calls calls (an aggregate of calls
// counted inside a fused module for more than one).
func edgeCounts(spans []span.Span) map[string]int {
	out := map[string]int{}
	for _, s := range spans {
		arrow := "->"
		if s.Async {
			arrow = "~>"
		}
		out[s.Caller+arrow+s.Task] += s.Calls()
	}
	return out
}

// TestModuleFusedAgreesWithInstanceFused runs each app in one host twice:
// instance-fused (a module per task) and module-fused (the Go tasks in one
// module; tree's WAT task D keeps its own), the latter with the host's
// default sampling of calls inside the module and with every call exact
// (SpanSampleEvery 1). All return the same bytes and record the same calls
// per call edge, the documented call graph.
// TestFusedAndSeparateAgree holds instance-fused to all-separate.
func TestModuleFusedAgreesWithInstanceFused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every example app, fused and not")
	}
	for _, name := range apps {
		t.Run(name, func(t *testing.T) {
			app := buildApp(t, name)
			fused := buildFused(t, app, app.TaskNames())
			ctx := context.Background()
			input := []byte(app.Input)
			results := map[string][]byte{}
			counts := map[string]map[string]int{}
			for _, mode := range []string{"instance", "module", "module-exact"} {
				rec := span.NewBuffer(1 << 12)
				cfg := host.Config{Name: mode, Group: "all", App: app.Name, Recorder: rec, MemoryMB: appMemoryMB}
				if mode == "module-exact" {
					cfg.SpanSampleEvery = 1
				}
				h := newHost(t, cfg)
				if mode != "instance" {
					loadModuleFused(t, h, app, app.TaskNames(), fused)
				} else if err := h.LoadApp(ctx, app, nil, nil); err != nil {
					t.Fatal(err)
				}
				out, err := h.Invoke(ctx, app.Entry, input)
				if err != nil {
					t.Fatalf("%s-fused: %v", mode, err)
				}
				closeHosts(t, h)
				results[mode] = out
				spans := rec.Drain()
				counts[mode] = edgeCounts(spans)
				wantEdges := slices.Sorted(slices.Values(graphs[name]))
				if e := observed(spans); !slices.Equal(e, wantEdges) {
					t.Errorf("%s-fused call graph %v, want %v", mode, e, wantEdges)
				}
			}
			for _, mode := range []string{"module", "module-exact"} {
				if !bytes.Equal(results[mode], results["instance"]) {
					t.Errorf("%s-fused returned\n%s\ninstance-fused returned\n%s", mode, results[mode], results["instance"])
				}
				if !maps.Equal(counts[mode], counts["instance"]) {
					t.Errorf("calls per edge: %s-fused %v, instance-fused %v", mode, counts[mode], counts["instance"])
				}
			}
		})
	}
}

// TestIoTModuleFusedIsOneInstance: the ten IoT tasks module-fused load as
// one module with one warm instance, against ten instance-fused.
func TestIoTModuleFusedIsOneInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the IoT app fused")
	}
	app := buildApp(t, "iot")
	fused := buildFused(t, app, app.TaskNames())
	if len(fused.Tasks) != len(app.Tasks) {
		t.Fatalf("fused module holds %v, want all %d tasks", fused.Tasks, len(app.Tasks))
	}
	h := newHost(t, host.Config{Name: "module", Group: "all", App: app.Name})
	loadModuleFused(t, h, app, app.TaskNames(), fused)
	if n := h.Stats().Instances; n != 1 {
		t.Errorf("%d instances after load, want 1", n)
	}
	closeHosts(t, h)
	fmt.Fprintf(os.Stderr, "iot fused module: %d bytes\n", fused.Size)
}
