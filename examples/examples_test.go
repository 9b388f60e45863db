package examples_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/guest-sdk/build"
)

// graphs is each app's call graph as its README documents it:
// "X->Y" is a sync call (including parallel ones started with task.Start),
// "X~>Y" an async call.
var graphs = map[string][]string{
	"iot": {
		"I->CW", "I->SE", "I~>CT", "I~>CS", "I~>CA",
		"CT~>AS",
		"CS->CSL", "CS->CSA",
		"CA->DJ", "CA~>AS",
	},
	"tree": {
		"A->B", "A~>C",
		"B->D",
		"D->E",
		"C~>F", "C~>G",
	},
	"webshop": {
		"frontend->supportedcurrencies", "frontend->listproducts", "frontend->getads",
		"frontend->currency", "frontend->searchproducts", "frontend->getproduct",
		"frontend->listrecommendations", "frontend->addcartitem", "frontend->checkout",
		"searchproducts->listproducts", "getproduct->listproducts", "listrecommendations->listproducts",
		"addcartitem->cartkvstorage", "getcart->cartkvstorage", "emptycart->cartkvstorage",
		"checkout->getcart", "checkout->listproducts", "checkout->shipmentquote", "checkout->currency",
		"checkout->payment", "checkout->shiporder", "checkout~>email", "checkout~>emptycart",
	},
	"hotspot": {
		"api->auth", "api->catalog", "api->score", "api->format",
	},
	"slowbranch": {
		"order~>audit", "order->stock", "order->quote",
		"audit~>archive",
	},
}

var apps = []string{"iot", "tree", "webshop", "hotspot", "slowbranch"}

// goCall finds the callee of every call through the Go SDK in a task's source.
var goCall = regexp.MustCompile(`(?s)task\.(CallAsyncJSON|CallAsync|CallInto|CallJSON\[.*?\]|Call|StartJSON|Start)\((?:[a-z]+, )?"([^"]+)"`)

// asCall finds the callee of every call through the AssemblyScript SDK.
var asCall = regexp.MustCompile(`\b(callAsync|call|start)\("([^"]+)"`)

// watData finds the strings of a WAT module's data segments.
var watData = regexp.MustCompile(`\(data \(i32\.const \d+\) "([^"]*)"\)`)

// edges scans the sources of app's tasks for calls, in the notation of graphs.
func edges(t *testing.T, app *manifest.App) []string {
	t.Helper()
	var out []string
	for _, tk := range app.Tasks {
		src := app.SourcePath(&tk)
		if tk.Lang == manifest.LangWAT {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			// A WAT task names its callees in data segments; count each
			// segment that is a task name as a sync call.
			for _, m := range watData.FindAllStringSubmatch(string(data), -1) {
				if _, ok := app.Task(m[1]); ok {
					out = append(out, tk.Name+"->"+m[1])
				}
			}
			continue
		}
		pattern, call, async := "*.go", goCall, "CallAsync"
		if tk.Lang == manifest.LangAssemblyScript {
			pattern, call, async = "*.ts", asCall, "callAsync"
		}
		files, err := filepath.Glob(filepath.Join(src, pattern))
		if err != nil || len(files) == 0 {
			t.Fatalf("task %s: no %s files in %s", tk.Name, pattern, src)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range call.FindAllStringSubmatch(string(data), -1) {
				arrow := "->"
				if strings.HasPrefix(m[1], async) {
					arrow = "~>"
				}
				out = append(out, tk.Name+arrow+m[2])
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestManifestsAndCallGraphs(t *testing.T) {
	for _, name := range apps {
		t.Run(name, func(t *testing.T) {
			app, err := manifest.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			if app.Name != name {
				t.Errorf("manifest name = %q, want %q", app.Name, name)
			}
			if app.Input == "" || !json(app.Input) {
				t.Errorf("default input is not a JSON object: %q", app.Input)
			}
			for _, tk := range app.Tasks {
				fi, err := os.Stat(app.SourcePath(&tk))
				if err != nil {
					t.Errorf("task %s: %v", tk.Name, err)
					continue
				}
				if (tk.Lang != manifest.LangWAT) != fi.IsDir() {
					t.Errorf("task %s (%s): source %s: want a folder for Go and AssemblyScript and a file for WAT", tk.Name, tk.Lang, tk.Source)
				}
			}
			if _, err := os.Stat(filepath.Join(name, "README.md")); err != nil {
				t.Error(err)
			}

			want := slices.Clone(graphs[name])
			slices.Sort(want)
			got := edges(t, app)
			if !slices.Equal(got, want) {
				t.Errorf("calls in the sources differ from the documented graph\n got: %v\nwant: %v", got, want)
			}
			// Every edge joins two tasks of the manifest, and every task but
			// the entry is called by someone.
			called := map[string]bool{app.Entry: true}
			for _, e := range got {
				caller, callee, _ := strings.Cut(strings.Replace(e, "~>", "->", 1), "->")
				for _, n := range []string{caller, callee} {
					if _, ok := app.Task(n); !ok {
						t.Errorf("edge %s: %s is not a task of %s", e, n, name)
					}
				}
				called[callee] = true
			}
			for _, tk := range app.Tasks {
				if !called[tk.Name] {
					t.Errorf("task %s is never called", tk.Name)
				}
			}
		})
	}
}

func json(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}")
}

// TestBuildAll compiles every task of every app into a temporary folder.
func TestBuildAll(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles ~35 modules; run without -short")
	}
	ctx := context.Background()
	out := t.TempDir()
	start := time.Now()
	for _, name := range apps {
		app, err := manifest.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		appStart := time.Now()
		res, err := build.Build(ctx, app, build.Options{OutDir: filepath.Join(out, name), Force: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res) != len(app.Tasks) {
			t.Fatalf("%s: %d results for %d tasks", name, len(res), len(app.Tasks))
		}
		var size int64
		for _, r := range res {
			head := make([]byte, 4)
			f, err := os.Open(r.Module)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Read(head)
			f.Close()
			if err != nil || !bytes.Equal(head, []byte("\x00asm")) {
				t.Errorf("%s/%s: %s is not a wasm module", name, r.Task, r.Module)
			}
			size += r.Size
		}
		t.Logf("%s: %d modules, %s, built in %v", name, len(res), mib(size), time.Since(appStart).Round(time.Millisecond))
	}
	t.Logf("all apps built in %v", time.Since(start).Round(time.Millisecond))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
