package gcp_test

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/emulators/tasks"
)

// brokenModule copies this module's tracked files to a new directory and adds a file
// that does not compile to the package every function source builds (runtime/gcf).
func brokenModule(t *testing.T) string {
	t.Helper()
	root := filepath.Join("..", "..")
	out, err := exec.Command("git", "-C", root, "ls-files", "--cached").Output()
	if err != nil {
		t.Skipf("no git work tree to copy the module from: %v", err)
	}
	dst := t.TempDir()
	for name := range strings.Lines(string(out)) {
		name = strings.TrimSpace(name)
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted in the work tree
			}
			t.Fatal(err)
		}
		path := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	broken := "package gcf\n\nfunc broken() { notDefinedAnywhere() }\n"
	if err := os.WriteFile(filepath.Join(dst, "runtime", "gcf", "broken.go"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestFailedBuildIsUnhealthyWithTheBuildLog deploys a group whose source does not compile
// (the packager vendors without compiling; with no compilation cache to write, nothing
// builds it before the platform does): the function's build fails (the emulator's own
// test checks the FAILED state and its messages), and the deploy reports ErrUnhealthy
// with the build log and removes the function.
func TestFailedBuildIsUnhealthyWithTheBuildLog(t *testing.T) {
	if testing.Short() {
		t.Skip("vendors a copy of the module and builds it in the emulator")
	}
	p := newPlatform(t, tasks.Options{})
	pack := gcp.NewPackager(t.TempDir(), slog.New(slog.DiscardHandler))
	pack.ModuleRoot = brokenModule(t)
	pack.NoCache = true
	a := p.adapter(t, gcp.Options{Packager: pack})
	p.env.Upload(t, "echo", wasm(t, "echo"))
	su := p.env.Apply(t, gcpGroups(setup.Group{Name: "broken", Tasks: []string{"echo"}, MemoryMB: 256})...)
	_, err := a.Deploy(t.Context(), p.env.Deployment(t, su, "broken"))
	if !errors.Is(err, adapters.ErrUnhealthy) || !strings.Contains(err.Error(), "undefined: notDefinedAnywhere") {
		t.Fatalf("%v, want ErrUnhealthy with the build log", err)
	}
	t.Log(err)
	if left := p.leftovers(a)(); len(left) > 0 {
		t.Fatalf("left after a failed build: %q", left)
	}
}
