package build_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/guest-sdk/build"
	"github.com/fusionize/fusionize/host"
)

func fuseApp(t *testing.T) *manifest.App {
	t.Helper()
	app, err := manifest.Load(filepath.Join("testdata", "fuse"))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// The fused module of hello and world is one module of ABI version 2 that
// the host loads for both tasks: each name reaches its own handler, and
// world's call to hello stays inside the module. The second build comes
// from the cache.
func TestBuildFusedLinksTasksIntoOneModule(t *testing.T) {
	app := fuseApp(t)
	ctx := context.Background()
	cache, out := t.TempDir(), t.TempDir()
	res, err := build.BuildFused(ctx, app, []string{"world", "hello"}, build.Options{CacheDir: cache, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cached || strings.Join(res.Tasks, ",") != "hello,world" || res.Size == 0 {
		t.Errorf("result %+v, want a fresh build of hello,world", res)
	}
	if want := filepath.Join(out, build.FusedName(res.Tasks)+".wasm"); res.Module != want {
		t.Errorf("module %s, want %s", res.Module, want)
	}
	checkModule(t, res.Module, append(abiExports, "fusionize_tasks", "fusionize_handle_task")...)

	again, err := build.BuildFused(ctx, app, []string{"hello", "world"}, build.Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.Key != res.Key || again.Digest != res.Digest {
		t.Errorf("second build %+v, want the cached module of %+v", again, res)
	}

	h, err := host.New(ctx, host.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if err := h.LoadFusedFile(ctx, []string{"hello", "world"}, res.Module, res.Digest); err != nil {
		t.Fatal(err)
	}
	for task, want := range map[string]string{"hello": "hello you", "world": "hello world!"} {
		got, err := h.Invoke(ctx, task, []byte("you"))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", task, got, err, want)
		}
	}
	if n := h.Stats().Instances; n != 1 {
		t.Errorf("%d instances, want 1: the call stayed inside the module", n)
	}
}

// The cache key follows the task's source, not only its name.
func TestBuildFusedKeyFollowsTheSources(t *testing.T) {
	app := fuseApp(t)
	ctx := context.Background()
	cache := t.TempDir()
	a, err := build.BuildFused(ctx, app, []string{"hello"}, build.Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	other := fuseApp(t)
	for i := range other.Tasks {
		if other.Tasks[i].Name == "hello" {
			other.Tasks[i].Source = "tasks/hello2"
		}
	}
	b, err := build.BuildFused(ctx, other, []string{"hello"}, build.Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if a.Key == b.Key || a.Digest == b.Digest || b.Cached {
		t.Errorf("same name, other source: keys %s and %s (cached %v)", a.Key, b.Key, b.Cached)
	}
}

func TestBuildFusedRefusesBadInput(t *testing.T) {
	app := fuseApp(t)
	for _, tc := range []struct {
		name  string
		tasks []string
		names string // the task the error must name
	}{
		{"two tasks with one name", []string{"hello", "world", "hello"}, "hello"},
		{"a WAT task", []string{"hello", "wecho"}, "wecho"},
		{"an unknown task", []string{"hello", "nosuch"}, "nosuch"},
		{"not a main package", []string{"hello", "notmain"}, "notmain"},
		{"no tasks", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build.BuildFused(context.Background(), app, tc.tasks, build.Options{CacheDir: t.TempDir()})
			if !errors.Is(err, build.ErrNotFusable) {
				t.Fatalf("err = %v, want ErrNotFusable", err)
			}
			var te *build.TaskError
			if tc.names != "" && (!errors.As(err, &te) || te.Task != tc.names) {
				t.Errorf("err = %v, want a TaskError naming %s", err, tc.names)
			}
		})
	}
}
