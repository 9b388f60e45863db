package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
