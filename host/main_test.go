package host_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/guest-sdk/build"
)

// goGuests are the Go test tasks under testdata/go, built once per test
// binary into guestDir.
var (
	goGuests = []string{"noop", "gecho", "gcaller", "gpanic", "ghog", "gpar", "gsleep", "gkv", "gloop", "gbig", "glog", "gtrap", "gvia", "gloopplain", "grepeat"}
	guestDir string
	cacheDir string // a compilation cache shared by the tests of one run
	buildErr error
	buildMu  sync.Once
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fusionize-host-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	guestDir = dir
	cacheDir = filepath.Join(dir, "cache")
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// goGuest returns the path of the built Go test task name, building all of
// them on first use (in parallel; the go build cache makes reruns fast).
func goGuest(t testing.TB, name string) string {
	t.Helper()
	buildMu.Do(func() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		sem := make(chan struct{}, runtime.NumCPU())
		for _, g := range goGuests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				cmd := exec.CommandContext(context.Background(), "go", "build", "-buildmode=c-shared", "-trimpath",
					"-o", filepath.Join(guestDir, g+".wasm"), "./testdata/go/"+g)
				cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
				if out, err := cmd.CombinedOutput(); err != nil {
					mu.Lock()
					buildErr = fmt.Errorf("build %s: %v\n%s", g, err, out)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(guestDir, name+".wasm")
}

// wat returns the path of a committed test module built from testdata/<name>.wat.
func wat(name string) string { return filepath.Join("testdata", name+".wasm") }

var (
	fusedMu      sync.Mutex
	fusedModules = map[string]string{}
)

// fusedGuest returns the path of a fused module of the named Go test tasks,
// built with guest-sdk/build once per test binary (and cached across runs
// by the digest of its inputs).
func fusedGuest(t testing.TB, tasks ...string) string {
	t.Helper()
	key := fmt.Sprint(tasks)
	fusedMu.Lock()
	defer fusedMu.Unlock()
	if p, ok := fusedModules[key]; ok {
		return p
	}
	app := &manifest.App{Name: "hosttest", Dir: "testdata"}
	for _, n := range tasks {
		app.Tasks = append(app.Tasks, manifest.Task{Name: n, Source: "go/" + n, Lang: manifest.LangGo})
	}
	res, err := build.BuildFused(context.Background(), app, tasks, build.Options{CacheDir: filepath.Join(os.TempDir(), "fusionize-test", "fused")})
	if err != nil {
		t.Fatal(err)
	}
	fusedModules[key] = res.Module
	return res.Module
}
