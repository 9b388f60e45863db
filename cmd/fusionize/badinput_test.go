package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/controlplane/store"
)

// TestInvokeDataIsLiteral: --data is sent as given, a leading @ included;
// --data-file reads a file or, with "-", standard input; a missing file is
// an error naming the flag.
func TestInvokeDataIsLiteral(t *testing.T) {
	got, err := invokeInput("@home", "", nil)
	if err != nil || string(got) != "@home" {
		t.Fatalf("--data @home: %q, %v; want the literal", got, err)
	}
	path := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(path, []byte(`{"n":3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := invokeInput("", path, nil); err != nil || string(got) != `{"n":3}` {
		t.Fatalf("--data-file: %q, %v", got, err)
	}
	if got, err := invokeInput("", "-", strings.NewReader("from stdin")); err != nil || string(got) != "from stdin" {
		t.Fatalf("--data-file -: %q, %v", got, err)
	}
	if _, err := invokeInput("", filepath.Join(t.TempDir(), "absent"), nil); err == nil || !strings.Contains(err.Error(), "--data-file") {
		t.Fatalf("missing file: %v, want an error naming --data-file", err)
	}
	root := newRoot()
	root.SetArgs([]string{"invoke", "A", "--data", "x", "--data-file", path})
	root.SetOut(&strings.Builder{})
	root.SetErr(&strings.Builder{})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "data-file") {
		t.Fatalf("--data with --data-file: %v, want them refused together", err)
	}
}

// TestUpOnBusyPortSaysAddressInUse: `fusionize up` where another control
// plane (another data directory) holds the ports says the address is in
// use, not that a token is missing, and the other control plane keeps
// serving.
func TestUpOnBusyPortSaysAddressInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	buildBinary(t)
	other, err := server.New(server.Options{DataDir: t.TempDir(), Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Store: store.Options{NoSync: true}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- other.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("other control plane: %v", err)
		}
	})
	for _, tc := range []struct{ flag, busy string }{
		{"--control-plane", other.Addr()}, {"--http-addr", other.HTTPAddr()},
	} {
		args := []string{"--data-dir", t.TempDir(), "up", filepath.Join("..", "..", "examples", "tree"),
			"--control-plane", freePort(t), "--http-addr", freePort(t), tc.flag, tc.busy}
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err == nil {
			t.Fatalf("up with %s %s held by another control plane succeeded:\n%s", tc.flag, tc.busy, out)
		}
		text := string(out)
		if !strings.Contains(text, "address "+tc.busy+" is already in use") || strings.Contains(text, "no token") {
			t.Fatalf("up with %s %s busy said:\n%s", tc.flag, tc.busy, text)
		}
	}
	resp, err := http.Get("http://" + other.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatalf("the other control plane stopped serving: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the other control plane: healthz %d", resp.StatusCode)
	}
}

// writeWATApp writes an app of WAT tasks, each from host/testdata, and
// returns its folder.
func writeWATApp(t *testing.T, name string, tasks map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	yaml := "name: " + name + "\nentry: ok\ntasks:\n"
	for task, src := range tasks {
		b, err := os.ReadFile(filepath.Join("..", "..", "host", "testdata", src+".wat"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, task+".wat"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		yaml += "  - name: " + task + "\n    source: " + task + ".wat\n    lang: wat\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "fusionize.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestUpRefusesABadModuleAtOnceNamingIt: `fusionize up` of an app with a
// module no host could load fails at the upload, naming the task and the
// reason, instead of waiting minutes for hosts that never start.
func TestUpRefusesABadModuleAtOnceNamingIt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the control plane")
	}
	buildBinary(t)
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("needs wat2wasm (scripts/install-tools.sh --with-wabt)")
	}
	data := t.TempDir()
	t.Cleanup(func() { _ = exec.Command(binary, "--data-dir", data, "down").Run() })
	app := writeWATApp(t, "badapp", map[string]string{"ok": "echo", "resize": "badabi"})
	out, err := exec.Command(binary, "--data-dir", data, "up", app, "--control-plane", freePort(t), "--http-addr", freePort(t)).CombinedOutput()
	if err == nil {
		t.Fatalf("up of an app with a bad module succeeded:\n%s", out)
	}
	for _, want := range []string{`upload module for task "resize"`, "module speaks ABI version 2, host speaks 1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "not active after") {
		t.Errorf("up waited for the setup instead of failing at the upload:\n%s", out)
	}
}

// TestHostThatCannotStartFailsTheDeployWithItsReason: a module that
// reached the store without the upload check (stored by an older control
// plane) makes its host exit; the host writes why to its ready file, the
// local adapter reads it, the deployer records it, and WaitActive returns
// it at once; the active setup keeps serving.
func TestHostThatCannotStartFailsTheDeployWithItsReason(t *testing.T) {
	if testing.Short() {
		t.Skip("starts host processes")
	}
	c := startCluster(t, filepath.Join("..", "..", "examples", "tree"))
	before, err := c.cli.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	bad, err := os.Open(filepath.Join("..", "..", "host", "testdata", "badabi.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := c.cp.Store().PutModule(t.Context(), "resize", bad, "", 0); err != nil {
		t.Fatal(err)
	}
	su := setup.Fused(0, "all", c.app.TaskNames(), setup.Place{Provider: "local"}, 128)
	su.Groups = append(su.Groups, setup.Group{Name: "img", Tasks: []string{"resize"}, MemoryMB: 128, Place: setup.Place{Provider: "local"}})
	v, err := c.cli.ApplySetup(t.Context(), su)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	err = c.cli.WaitActive(ctx, v)
	if !errors.Is(err, client.ErrDeployFailed) {
		t.Fatalf("WaitActive = %v, want ErrDeployFailed", err)
	}
	for _, want := range []string{"img", `task "resize"`, "ABI version 2, host speaks 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("deploy error %q does not say %q", err, want)
		}
	}
	after, err := c.cli.Status(t.Context())
	if err != nil || after.ActiveVersion != before.ActiveVersion {
		t.Fatalf("active version %d after the failed deploy (%v), want %d", after.ActiveVersion, err, before.ActiveVersion)
	}
	if _, err := c.inv.Invoke(t.Context(), c.app.Entry, []byte(c.app.Input)); err != nil {
		t.Fatalf("the active setup stopped serving: %v", err)
	}
}
