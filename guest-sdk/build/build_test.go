package build_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/guest-sdk/build"
)

// loadApp loads testdata/<name> and keeps only the named tasks.
func loadApp(t testing.TB, name string, tasks ...string) *manifest.App {
	t.Helper()
	app, err := manifest.Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) > 0 {
		keep := app.Tasks[:0]
		for _, tk := range app.Tasks {
			for _, n := range tasks {
				if tk.Name == n {
					keep = append(keep, tk)
				}
			}
		}
		app.Tasks = keep
	}
	return app
}

// requireWat2Wasm skips the test when wat2wasm is missing, except in CI.
func requireWat2Wasm(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("wat2wasm not installed (apt-get install wabt); required when CI is set")
		}
		t.Fatal("wat2wasm not installed but CI is set: install wabt")
	}
}

// checkModule compiles the module with wazero and checks the ABI exports.
func checkModule(t *testing.T, path string, exports ...string) {
	t.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("%s does not validate: %v", path, err)
	}
	fns := cm.ExportedFunctions()
	for _, name := range exports {
		if _, ok := fns[name]; !ok {
			t.Errorf("%s does not export %s", path, name)
		}
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		t.Errorf("%s does not export memory", path)
	}
}

var abiExports = []string{"fusionize_handle", "fusionize_alloc", "fusionize_abi_version"}

func checkResult(t *testing.T, res build.Result, task string, skipped bool) {
	t.Helper()
	if res.Task != task || res.Skipped != skipped {
		t.Errorf("result = %+v, want task %s skipped %v", res, task, skipped)
	}
	fi, err := os.Stat(res.Module)
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != fi.Size() || res.Size == 0 {
		t.Errorf("size = %d, file has %d bytes", res.Size, fi.Size())
	}
	if !strings.HasPrefix(res.Digest, "sha256:") || len(res.Digest) != len("sha256:")+64 {
		t.Errorf("digest = %q, want sha256:<64 hex>", res.Digest)
	}
}

func TestBuildGoTaskIsAReactorWithTheABIExports(t *testing.T) {
	app := loadApp(t, "app", "echo")
	out := t.TempDir()
	var (
		mu     sync.Mutex
		events []string
	)
	opts := build.Options{OutDir: out, Progress: func(e build.Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e.Kind.String()+" "+e.Task)
	}}
	res, err := build.Build(context.Background(), app, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("got %d results, want 1", len(res))
	}
	checkResult(t, res[0], "echo", false)
	if res[0].Module != filepath.Join(out, "echo.wasm") {
		t.Errorf("module = %s, want it in OutDir", res[0].Module)
	}
	checkModule(t, res[0].Module, append(abiExports, "_initialize")...)
	if got, want := strings.Join(events, ","), "start echo,done echo"; got != want {
		t.Errorf("events = %s, want %s", got, want)
	}

	t.Run("a second build skips", func(t *testing.T) {
		again, err := build.Build(context.Background(), app, build.Options{OutDir: out})
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, again[0], "echo", true)
		if again[0].Digest != res[0].Digest {
			t.Errorf("digest changed on skip: %s, was %s", again[0].Digest, res[0].Digest)
		}
	})
	t.Run("a source newer than the module rebuilds", func(t *testing.T) {
		old := time.Unix(1, 0) // older than any source file, whenever the sources were checked out
		if err := os.Chtimes(res[0].Module, old, old); err != nil {
			t.Fatal(err)
		}
		again, err := build.Build(context.Background(), app, build.Options{OutDir: out})
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, again[0], "echo", false)
		if again[0].Digest != res[0].Digest {
			t.Errorf("-trimpath build is not reproducible: %s, was %s", again[0].Digest, res[0].Digest)
		}
	})
}

func TestBuildWATTask(t *testing.T) {
	requireWat2Wasm(t)
	app := loadApp(t, "app", "wecho")
	out := t.TempDir()
	res, err := build.Build(context.Background(), app, build.Options{OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res[0], "wecho", false)
	checkModule(t, res[0].Module, abiExports...)

	again, err := build.Build(context.Background(), app, build.Options{OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, again[0], "wecho", true)

	forced, err := build.Build(context.Background(), app, build.Options{OutDir: out, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, forced[0], "wecho", false)
}

func TestBuildBrokenGoSourceNamesTheTask(t *testing.T) {
	app := loadApp(t, "broken")
	var failed []string
	res, err := build.Build(context.Background(), app, build.Options{
		OutDir: t.TempDir(),
		Progress: func(e build.Event) {
			if e.Kind == build.EventFailed {
				failed = append(failed, e.Task)
			}
		},
	})
	if err == nil {
		t.Fatal("broken task built without error")
	}
	if len(res) != 0 {
		t.Errorf("results = %+v, want none", res)
	}
	var te *build.TaskError
	if !errors.As(err, &te) || te.Task != "bad" {
		t.Fatalf("error %v is not a TaskError for task bad", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, `task "bad"`) || !strings.Contains(msg, "undefinedValue") {
		t.Errorf("error does not name the task and include the compiler output:\n%s", msg)
	}
	if len(failed) != 1 || failed[0] != "bad" {
		t.Errorf("failed events = %v, want [bad]", failed)
	}
}

func TestBuildWithoutWat2WasmSaysHowToInstallIt(t *testing.T) {
	app := loadApp(t, "app", "wecho")
	_, err := build.Build(context.Background(), app, build.Options{OutDir: t.TempDir(), Wat2Wasm: "no-such-wat2wasm-tool"})
	if !errors.Is(err, build.ErrWat2WasmNotFound) {
		t.Fatalf("error = %v, want ErrWat2WasmNotFound", err)
	}
	if !strings.Contains(err.Error(), `task "wecho"`) || !strings.Contains(err.Error(), "apt-get install wabt") {
		t.Errorf("error = %v", err)
	}
}

func TestBuildMissingSource(t *testing.T) {
	app := loadApp(t, "app", "echo")
	app.Tasks[0].Source = "tasks/nope"
	_, err := build.Build(context.Background(), app, build.Options{OutDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `task "echo"`) {
		t.Fatalf("error = %v, want one naming task echo", err)
	}
}
