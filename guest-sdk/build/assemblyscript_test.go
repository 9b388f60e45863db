package build_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/guest-sdk/build"
	"github.com/fusionize/fusionize/host"
)

// asSDK is the AssemblyScript SDK of this checkout.
var asSDK = filepath.Join("..", "assemblyscript")

// requireAsc skips the test when the AssemblyScript compiler is not
// installed (scripts/install-assemblyscript.sh), except in CI.
func requireAsc(t testing.TB) {
	t.Helper()
	_, err := os.Stat(filepath.Join(asSDK, "node_modules", ".bin", "asc"))
	if err == nil {
		_, err = exec.LookPath("node")
	}
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("AssemblyScript compiler not installed (scripts/install-assemblyscript.sh); required when CI is set")
		}
		t.Fatal("AssemblyScript compiler not installed but CI is set: run scripts/install-assemblyscript.sh")
	}
}

// lockedWriter is an io.Writer for a logger shared by invocations.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// probeHost builds the AssemblyScript probe and the Go and WAT echo tasks
// and loads them into one real host (one group), as `fusionize run` does.
func probeHost(t testing.TB) (*host.Host, *lockedWriter) {
	t.Helper()
	requireAsc(t)
	requireWat2Wasm(t)
	app := loadApp(t, "app", "probe", "echo", "wecho")
	res, err := build.Build(context.Background(), app, build.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedWriter{}
	h, err := host.New(context.Background(), host.Config{
		Group:   "g",
		Timeout: 20 * time.Second,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	for _, r := range res {
		wasm, err := os.ReadFile(r.Module)
		if err != nil {
			t.Fatal(err)
		}
		if err := host.CheckModule(context.Background(), r.Task, wasm, host.CheckOptions{}); err != nil {
			t.Fatalf("CheckModule(%s): %v", r.Task, err)
		}
		if err := h.Load(context.Background(), r.Task, wasm, r.Digest); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.SetSetup(&setup.Setup{Version: 1, Groups: []setup.Group{
		{Name: "g", Tasks: []string{"probe", "echo", "wecho"}, Place: setup.Place{Provider: "local"}},
	}}); err != nil {
		t.Fatal(err)
	}
	return h, logs
}

// TestAssemblyScriptSDKOnTheRealHost runs every part of the AssemblyScript
// SDK in a module built by Build, on a real host, calling Go and WAT tasks.
func TestAssemblyScriptSDKOnTheRealHost(t *testing.T) {
	h, logs := probeHost(t)
	ctx := context.Background()
	big := strings.Repeat("y", 100_000)
	cases := []struct{ name, in, want string }{
		{"sync call to a Go task", "call echo hello", "ok:hello"},
		{"sync call to a WAT task", "call wecho hi", "ok:hi"},
		{"a call to an unknown task gives UNKNOWN_TASK", "call nosuch x", "err:-1:call nosuch: "},
		{"a result over the SDK's buffer comes through take", "big 10000", "len=10000"},
		{"a second large result reuses the grown buffer", "big 20000", "len=20000"},
		{"async call accepted", "async echo", "ok"},
		{"async call to an unknown task is refused", "async nosuch", "err:-1:call nosuch: "},
		{"parallel calls with start and wait", "par", "ok:one,ok:two,ok:three"},
		{"the 65th started call gives TOO_MANY", "toomany", "started=64 refused=-10 true sum=2016"},
		{"key-value put and get; an absent key gives NOT_FOUND", "kv a", "ok:v-a err:-9:call probe/missing: "},
		{"an input larger than the first input region", "echo " + big, big},
		{"a small input after a large one", "echo small", "small"},
		{"Math.random is seeded through WASI, with no env import", "random", "true"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := h.Invoke(ctx, "probe", []byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out); !strings.HasPrefix(got, c.want) {
				if len(got) > 200 {
					got = got[:200] + "…"
				}
				t.Errorf("output = %q, want prefix %q", got, c.want)
			}
		})
	}
	t.Run("NOT_FOUND's message matches Code.NotFound", func(t *testing.T) {
		out, err := h.Invoke(ctx, "probe", []byte("kv b"))
		if err != nil || !strings.HasSuffix(string(out), " true") {
			t.Errorf("output = %q, %v; want is(Code.NotFound) true", out, err)
		}
	})
	t.Run("log reaches the host's log attributed to the task", func(t *testing.T) {
		if _, err := h.Invoke(ctx, "probe", []byte("log hello")); err != nil {
			t.Fatal(err)
		}
		var line string
		for l := range strings.Lines(logs.String()) {
			if strings.Contains(l, "probe says hello") {
				line = l
			}
		}
		if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "probe") {
			t.Errorf("log line = %q, want a WARN line naming the task", line)
		}
	})
	t.Run("fail fails the invocation with the message", func(t *testing.T) {
		_, err := h.Invoke(ctx, "probe", []byte("fail badly"))
		if !errors.Is(err, host.ErrFailed) || !strings.Contains(err.Error(), "probe failed: badly") {
			t.Errorf("error = %v, want ErrFailed with the message", err)
		}
	})
	t.Run("an assertion traps with FAILED and logs its message", func(t *testing.T) {
		_, err := h.Invoke(ctx, "probe", []byte("abort now"))
		if !errors.Is(err, host.ErrFailed) || !strings.Contains(err.Error(), "probe") {
			t.Errorf("error = %v, want ErrFailed naming the task", err)
		}
		if !strings.Contains(logs.String(), "abort: probe aborts: now") {
			t.Errorf("log has no line with the assertion's message:\n%s", logs.String())
		}
		// The host replaced the trapped instance and keeps serving.
		if out, err := h.Invoke(ctx, "probe", []byte("call echo again")); err != nil || string(out) != "ok:again" {
			t.Errorf("after the trap: %q, %v", out, err)
		}
	})
}

func TestBuildAssemblyScriptTaskSkipsWhenFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles an AssemblyScript task twice; run without -short")
	}
	requireAsc(t)
	app := loadApp(t, "app", "probe")
	out := t.TempDir()
	res, err := build.Build(context.Background(), app, build.Options{OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res[0], "probe", false)
	checkModule(t, res[0].Module, append(abiExports, "_initialize")...)

	again, err := build.Build(context.Background(), app, build.Options{OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, again[0], "probe", true)

	// The SDK is an input: a module older than the SDK's sources rebuilds,
	// and the same sources give the same module.
	old := time.Unix(1, 0)
	if err := os.Chtimes(res[0].Module, old, old); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := build.Build(context.Background(), app, build.Options{OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, rebuilt[0], "probe", false)
	if rebuilt[0].Digest != res[0].Digest {
		t.Errorf("asc build is not reproducible: %s, was %s", rebuilt[0].Digest, res[0].Digest)
	}
}

// tsApp writes an app of one AssemblyScript task with source src into a
// folder outside this module.
func tsApp(t *testing.T, src string) *manifest.App {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.ts"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	app, err := manifest.Parse([]byte("name: ts\nentry: t\ntasks:\n  - name: t\n    source: t.ts\n"))
	if err != nil {
		t.Fatal(err)
	}
	app.Dir = dir
	return app
}

func TestBuildBrokenAssemblyScriptNamesTheTaskAndTheLine(t *testing.T) {
	requireAsc(t)
	app := tsApp(t, "export function f(): i32 {\n  return undefinedValue;\n}\n")
	_, err := build.Build(context.Background(), app, build.Options{OutDir: t.TempDir(), AssemblyScriptSDK: asSDK})
	var te *build.TaskError
	if !errors.As(err, &te) || te.Task != "t" {
		t.Fatalf("error %v is not a TaskError for task t", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "undefinedValue") || !strings.Contains(msg, "t.ts") {
		t.Errorf("error does not include the compiler's diagnostic:\n%s", msg)
	}
}

func TestBuildAssemblyScriptWithoutTheCompilerSaysHowToInstallIt(t *testing.T) {
	app := tsApp(t, "export function f(): void {}\n")
	empty := t.TempDir() // an SDK folder without node_modules
	_, err := build.Build(context.Background(), app, build.Options{OutDir: t.TempDir(), AssemblyScriptSDK: empty})
	if !errors.Is(err, build.ErrAssemblyScriptNotFound) {
		t.Fatalf("error = %v, want ErrAssemblyScriptNotFound", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `task "t"`) || !strings.Contains(msg, "scripts/install-assemblyscript.sh") {
		t.Errorf("error = %v, want the task and the install script named", err)
	}

	t.Run("an app outside any Fusionize checkout", func(t *testing.T) {
		_, err := build.Build(context.Background(), app, build.Options{OutDir: t.TempDir()})
		if !errors.Is(err, build.ErrAssemblyScriptNotFound) || !strings.Contains(err.Error(), "replace") {
			t.Fatalf("error = %v, want ErrAssemblyScriptNotFound saying how to point at a checkout", err)
		}
	})
}

func TestCheckToolsNamesEachTaskWhoseToolIsMissing(t *testing.T) {
	app := loadApp(t, "app")
	err := build.CheckTools(app, build.Options{Wat2Wasm: "no-such-wat2wasm-tool", AssemblyScriptSDK: t.TempDir()})
	if !errors.Is(err, build.ErrWat2WasmNotFound) || !errors.Is(err, build.ErrAssemblyScriptNotFound) {
		t.Fatalf("error = %v, want both tools missing", err)
	}
	for _, task := range []string{`task "wecho"`, `task "probe"`} {
		if !strings.Contains(err.Error(), task) {
			t.Errorf("error %v does not name %s", err, task)
		}
	}
	if strings.Contains(err.Error(), `task "echo"`) {
		t.Errorf("error %v names the Go task", err)
	}
}

func TestCheckoutFollowsTheReplaceOfTheFusionizeModule(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, gomod, want string }{
		{"a replace line", "module x\n\nreplace github.com/fusionize/fusionize => " + repo + "\n", repo},
		{"a versioned replace in a block", "module x\n\nreplace (\n\tgithub.com/fusionize/fusionize v0.0.0 => " + repo + "\n)\n", repo},
		{"a replace by another module", "module x\n\nreplace github.com/fusionize/fusionize => github.com/fork/fusionize v1.0.0\n", ""},
		{"no replace", "module x\n\nrequire github.com/fusionize/fusionize v0.0.0\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(c.gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			sub := filepath.Join(dir, "app")
			if got := build.Checkout(sub); got != c.want {
				t.Errorf("Checkout = %q, want %q", got, c.want)
			}
		})
	}
	if got := build.Checkout("."); got != repo {
		t.Errorf("Checkout inside the module = %q, want %q", got, repo)
	}
}
