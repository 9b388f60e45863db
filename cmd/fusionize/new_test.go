package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/guest-sdk/build"
	"github.com/fusionize/fusionize/host"
)

// runCLI runs the fusionize command in process and returns its output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// repoRoot is this checkout's root.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestNewAppAndTaskBuildAndRunAtOnce scaffolds an app of a Go task outside
// this module, adds an AssemblyScript task, builds both with `fusionize
// build`'s builder and runs them on a real host.
func TestNewAppAndTaskBuildAndRunAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go and an AssemblyScript task")
	}
	dir := filepath.Join(t.TempDir(), "hello-app")
	if out, err := runCLI(t, "new", dir, "--fusionize", repoRoot(t)); err != nil {
		t.Fatalf("new: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "new", "task", "greet", "--lang", "assemblyscript", "--app", dir); err != nil {
		t.Fatalf("new task: %v\n%s", err, out)
	}
	app, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if app.Name != "hello-app" || app.Entry != "hello" || len(app.Tasks) != 2 {
		t.Fatalf("manifest = %+v", app)
	}
	if greet, _ := app.Task("greet"); greet.Lang != manifest.LangAssemblyScript {
		t.Errorf("greet: lang %q", greet.Lang)
	}
	if err := build.CheckTools(app, build.Options{}); err != nil && os.Getenv("CI") == "" {
		t.Skipf("%v\n(required when CI is set)", err)
	}
	// The build finds the AssemblyScript SDK through go.mod's replace,
	// as it finds the Go SDK.
	if got := build.Checkout(dir); got != repoRoot(t) {
		t.Errorf("Checkout(app) = %q, want %q", got, repoRoot(t))
	}
	if _, err := build.Build(context.Background(), app, build.Options{}); err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), host.Config{Group: "all", App: app.Name, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	if err := h.LoadApp(context.Background(), app, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"hello", "greet"} {
		out, err := h.Invoke(context.Background(), task, []byte(app.Input))
		if err != nil {
			t.Fatalf("%s: %v", task, err)
		}
		if want := "hello from " + task + `: {"name":"world"}`; string(out) != want {
			t.Errorf("%s answered %q, want %q", task, out, want)
		}
	}
	// The generated go.mod needs nothing but the checkout: go vet of the
	// Go task resolves the SDK without a go.sum or the network.
	vet := exec.Command("go", "vet", "./tasks/hello")
	vet.Dir = dir
	vet.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOPROXY=off", "GOFLAGS=-mod=readonly")
	if out, err := vet.CombinedOutput(); err != nil {
		t.Errorf("go vet in the new app: %v\n%s", err, out)
	}
}

func TestNewRefusesBadInputNamingIt(t *testing.T) {
	base := t.TempDir()
	app := filepath.Join(base, "app")
	if out, err := runCLI(t, "new", app, "--lang", "assemblyscript", "--task", "front", "--fusionize", repoRoot(t)); err != nil {
		t.Fatalf("new: %v\n%s", err, out)
	}
	nonEmpty := filepath.Join(base, "full")
	if err := os.MkdirAll(nonEmpty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nonEmpty, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown language", []string{"new", filepath.Join(base, "x"), "--lang", "rust", "--fusionize", repoRoot(t)}, `unknown --lang "rust"`},
		{"a bad task name", []string{"new", filepath.Join(base, "y"), "--task", "9lives", "--fusionize", repoRoot(t)}, `task name "9lives"`},
		{"a folder that is not empty", []string{"new", nonEmpty, "--fusionize", repoRoot(t)}, "is not empty"},
		{"a checkout that is not Fusionize", []string{"new", filepath.Join(base, "z"), "--fusionize", base}, "not a Fusionize checkout"},
		{"a task the app has", []string{"new", "task", "front", "--app", app}, `already has a task "front"`},
		{"a task in an unknown language", []string{"new", "task", "back", "--lang", "cobol", "--app", app}, `unknown --lang "cobol"`},
		{"a task for a folder without an app", []string{"new", "task", "back", "--app", base}, "fusionize.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one containing %q", err, c.want)
			}
		})
	}
	for _, refused := range []string{"x", "y", "z"} {
		if _, err := os.Stat(filepath.Join(base, refused)); err == nil {
			t.Errorf("a refused new left %s behind", refused)
		}
	}
	// The app is untouched by the refused additions.
	a, err := manifest.Load(app)
	if err != nil || len(a.Tasks) != 1 || a.Tasks[0].Lang != manifest.LangAssemblyScript {
		t.Errorf("app after refusals: %+v, %v", a, err)
	}
}

func TestNewInsideTheFusionizeModuleWritesNoGoMod(t *testing.T) {
	got, err := goMod(filepath.Join(repoRoot(t), "examples", "newapp"), "newapp", "")
	if err != nil || got != "" {
		t.Errorf("goMod inside the module = %q, %v; want none", got, err)
	}
	got, err = goMod(t.TempDir(), "outside", repoRoot(t))
	if err != nil || !strings.Contains(got, "replace github.com/fusionize/fusionize => "+repoRoot(t)) {
		t.Errorf("goMod outside = %q, %v; want a replace of the checkout", got, err)
	}
}

// TestNewAppUpAndInvoke: the scaffold of a Go and an AssemblyScript task,
// deployed with `fusionize up` (a host process per task) and invoked over
// gRPC with `fusionize invoke`, as a new user would.
func TestNewAppUpAndInvoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two tasks and starts the control plane and two hosts")
	}
	data, cpAddr, httpAddr, run := newUpDir(t)
	dir := filepath.Join(t.TempDir(), "hello")
	run("new", dir, "--fusionize", repoRoot(t))
	run("new", "task", "greet", "--lang", "assemblyscript", "--app", dir)
	requireBuildTools(t, dir)
	run("up", dir, "--control-plane", cpAddr, "--http-addr", httpAddr)
	for _, task := range []string{"hello", "greet"} {
		out := run("invoke", task, "--control-plane", cpAddr, "--data", "up")
		if want := "hello from " + task + ": up\n"; !strings.HasPrefix(out, want) || !strings.Contains(out, "via the entry point "+cpAddr) {
			t.Errorf("invoke %s:\n%s\nwant %q via the entry point %s", task, out, want, cpAddr)
		}
	}
	run("down")
	if _, ok := runningServeIn(data); ok {
		t.Error("control plane still running after down")
	}
}
