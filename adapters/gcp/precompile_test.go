package gcp_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/adaptertest"
	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/emulators/tasks"
	"github.com/fusionize/fusionize/runtime/gcf"
)

func TestSourceCarriesCompilationCacheOfEveryModule(t *testing.T) {
	cfg := gcf.Config{App: "iot", SetupVersion: 1, Group: "g", MemoryMB: 256}
	var mods []gcf.Module
	for _, task := range []string{"echo", "caller"} {
		mods = append(mods, gcf.Module{Task: task, Digest: digest(wasm(t, task)), Wasm: wasm(t, task)})
	}
	src, _, err := gcp.NewPackager(vendorCache, slog.New(slog.DiscardHandler)).Build(context.Background(), cfg, mods)
	if err != nil {
		t.Fatal(err)
	}
	var cached []string
	for name := range zipFiles(t, src) {
		if strings.HasPrefix(name, gcf.CacheDir+"/wazero-") && strings.Contains(name, "-amd64-linux/") {
			cached = append(cached, name)
		}
	}
	if len(cached) != len(mods) {
		t.Fatalf("source caches %q, want one linux/amd64 entry per module (%d)", cached, len(mods))
	}
	p := gcp.NewPackager(vendorCache, slog.New(slog.DiscardHandler))
	p.NoCache = true
	src, _, err = p.Build(context.Background(), cfg, mods)
	if err != nil {
		t.Fatal(err)
	}
	for name := range zipFiles(t, src) {
		if strings.HasPrefix(name, gcf.CacheDir+"/") {
			t.Fatalf("NoCache source carries %s", name)
		}
	}
}

func TestBadModuleFailsThePackagerNamingItsTask(t *testing.T) {
	mods := []gcf.Module{
		{Task: "echo", Digest: digest(wasm(t, "echo")), Wasm: wasm(t, "echo")},
		{Task: "badabi", Digest: digest(adaptertest.Module(t, "badabi")), Wasm: adaptertest.Module(t, "badabi")},
	}
	_, _, err := gcp.NewPackager(vendorCache, slog.New(slog.DiscardHandler)).Build(context.Background(), gcf.Config{App: "a", Group: "g"}, mods)
	if !errors.Is(err, gcp.ErrModule) || !strings.Contains(err.Error(), `"badabi"`) {
		t.Fatalf("%v, want ErrModule naming task badabi", err)
	}
}

// TestColdStartLoadsFromTheShippedCache deploys the same group with and without the
// compilation cache in its source: with it, the function's first instance compiles
// nothing (the cache matches the function the emulator built); without, it compiles
// every module.
func TestColdStartLoadsFromTheShippedCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Cloud Functions in the emulator")
	}
	p := newPlatform(t, tasks.Options{})
	for _, task := range []string{"echo", "caller"} {
		p.env.Upload(t, task, wasm(t, task))
	}
	for _, c := range []struct {
		name     string
		noCache  bool
		compiled string
	}{{"with", false, `\"compiled\":0`}, {"without", true, `\"compiled\":2`}} {
		pack := gcp.NewPackager(vendorCache, slog.New(slog.DiscardHandler))
		pack.NoCache = c.noCache
		a := p.adapter(t, gcp.Options{Packager: pack})
		su := p.env.Apply(t, gcpGroups(setup.Group{Name: "cached-" + c.name, Tasks: []string{"echo", "caller"}, MemoryMB: 256})...)
		if _, err := a.Deploy(t.Context(), p.env.Deployment(t, su, "cached-"+c.name)); err != nil {
			t.Fatal(err)
		}
		var loaded []string
		for line := range strings.Lines(p.logs.String()) {
			if strings.Contains(line, "group loaded") && strings.Contains(line, "cached-"+c.name) {
				loaded = append(loaded, line)
			}
		}
		if len(loaded) == 0 {
			t.Fatalf("%s the cache: no instance logged that it loaded the group", c.name)
		}
		for _, line := range loaded {
			if !strings.Contains(line, c.compiled) {
				t.Errorf("%s the cache: an instance logged %s, want %s", c.name, line, c.compiled)
			}
		}
		if err := a.Close(t.Context()); err != nil && !errors.Is(err, adapters.ErrClosed) {
			t.Fatal(err)
		}
	}
}
