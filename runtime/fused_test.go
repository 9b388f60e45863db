package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/runtime"
)

// fusedPackage writes an artifact holding a fused module of tasks fa and fb
// (host/testdata/fusedpair) and the module of task echo, as a packager lays
// it out, and returns its directory and config for group g.
func fusedPackage(t *testing.T, g setup.Group) (string, runtime.PackageConfig) {
	t.Helper()
	dir := t.TempDir()
	su := &setup.Setup{Version: 1, Groups: []setup.Group{g}}
	cfg := runtime.PackageConfig{App: "app", SetupVersion: 1, Group: g.Name, Setup: su}
	for _, m := range []struct {
		name, file string
		tasks      []string
	}{{"fused-fa-fb", "fusedpair", []string{"fa", "fb"}}, {"echo", "echo", nil}} {
		wasm, err := os.ReadFile(filepath.Join("..", "host", "testdata", m.file+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		path := runtime.ModulesDir + "/" + m.name + ".wasm"
		if err := os.MkdirAll(filepath.Join(dir, runtime.ModulesDir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(path)), wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg.Modules = append(cfg.Modules, runtime.PackageModule{Task: m.name, Tasks: m.tasks, Digest: host.Digest(wasm), Path: path})
	}
	return dir, cfg
}

// TestModuleFusedGroupLoadsItsFusedModuleBesideTheOthers: the host of a
// module-fused group loads the artifact's fused module for the tasks it
// holds (one module, one digest) and the module of its other task; the
// same artifact for an instance-fused group lacks a module per task, and
// a module-fused group without a fused module is refused saying so.
func TestModuleFusedGroupLoadsItsFusedModuleBesideTheOthers(t *testing.T) {
	ctx := context.Background()
	g := setup.Group{Name: "g", Tasks: []string{"fa", "fb", "echo"}, MemoryMB: 128, Fusion: setup.FusionModule}
	dir, cfg := fusedPackage(t, g)
	h, err := runtime.NewHost(ctx, runtime.GroupConfig{App: "app", Setup: cfg.Setup, Group: "g", Modules: cfg.ModulesIn(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if got := h.Tasks(); !slices.Equal(got, []string{"echo", "fa", "fb"}) {
		t.Errorf("tasks %v, want echo, fa, fb", got)
	}
	da, _ := h.Digest("fa")
	db, _ := h.Digest("fb")
	de, _ := h.Digest("echo")
	if da != cfg.Modules[0].Digest || db != da || de == da {
		t.Errorf("digests a %s b %s echo %s: want a and b the fused module's %s", da, db, de, cfg.Modules[0].Digest)
	}
	for _, task := range []string{"fa", "fb", "echo"} {
		if out, err := h.Invoke(ctx, task, []byte("hi")); err != nil || string(out) != "hi" {
			t.Errorf("invoke %s = %q, %v", task, out, err)
		}
	}

	inst := g
	inst.Fusion = setup.FusionInstance
	dir, cfg = fusedPackage(t, inst)
	_, err = runtime.NewHost(ctx, runtime.GroupConfig{App: "app", Setup: cfg.Setup, Group: "g", Modules: cfg.ModulesIn(dir)})
	if err == nil || !strings.Contains(err.Error(), `no module of task "fa"`) {
		t.Errorf("instance-fused group from a fused artifact: %v, want no module of task fa", err)
	}

	dir, cfg = fusedPackage(t, g)
	cfg.Modules = cfg.Modules[1:]
	_, err = runtime.NewHost(ctx, runtime.GroupConfig{App: "app", Setup: cfg.Setup, Group: "g", Modules: cfg.ModulesIn(dir)})
	if !errors.Is(err, runtime.ErrNoFusedModule) || !strings.Contains(err.Error(), "fa,fb,echo") {
		t.Errorf("module-fused group without a fused module: %v, want ErrNoFusedModule naming its tasks", err)
	}
}

// TestModulesOfChoosesTheFusedModuleOfTheGroup: a module-fused group gets
// the largest fused module within it (the newest of equals) and the module
// of each task it does not hold; an instance-fused group one module per
// task; a task without a module is named.
func TestModulesOfChoosesTheFusedModuleOfTheGroup(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	infos := []api.ModuleInfo{
		{Task: "A", Digest: "sha256:a"}, {Task: "B", Digest: "sha256:b"}, {Task: "C", Digest: "sha256:c"}, {Task: "W", Digest: "sha256:w"},
		{Task: "fused-A-B", Digest: "sha256:ab", Tasks: []string{"A", "B"}, UploadedAt: t0},
		{Task: "fused-A-B-C", Digest: "sha256:abc", Tasks: []string{"A", "B", "C"}, UploadedAt: t0},
		{Task: "fused-A-B-X", Digest: "sha256:abx", Tasks: []string{"A", "B", "X"}, UploadedAt: t0.Add(time.Hour)},
	}
	names := func(ms []api.ModuleInfo) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Task)
		}
		return out
	}
	cases := []struct {
		g    setup.Group
		want []string
	}{
		{setup.Group{Name: "m", Tasks: []string{"A", "B", "C", "W"}, Fusion: setup.FusionModule}, []string{"fused-A-B-C", "W"}},
		{setup.Group{Name: "m", Tasks: []string{"A", "B", "W"}, Fusion: setup.FusionModule}, []string{"fused-A-B", "W"}},
		{setup.Group{Name: "i", Tasks: []string{"A", "B", "C"}}, []string{"A", "B", "C"}},
	}
	for _, c := range cases {
		got, err := runtime.ModulesOf(infos, c.g)
		if err != nil || !slices.Equal(names(got), c.want) {
			t.Errorf("ModulesOf(%v %s) = %v, %v; want %v", c.g.Tasks, c.g.Fusion, names(got), err, c.want)
		}
	}
	if _, err := runtime.ModulesOf(infos, setup.Group{Name: "m", Tasks: []string{"W", "C"}, Fusion: setup.FusionModule}); !errors.Is(err, runtime.ErrNoFusedModule) {
		t.Errorf("no fused module within the group: %v, want ErrNoFusedModule", err)
	}
	if _, err := runtime.ModulesOf(infos, setup.Group{Name: "i", Tasks: []string{"A", "Z"}}); err == nil || !strings.Contains(err.Error(), `"Z"`) {
		t.Errorf("a task without a module: %v, want it named", err)
	}
}
