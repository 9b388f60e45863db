// Package build compiles the tasks of a Fusionize app to WebAssembly modules:
// Go tasks with the Go toolchain as wasip1 reactors, WAT tasks with wat2wasm,
// AssemblyScript tasks with the AssemblyScript compiler (asc). It is what
// `fusionize build` runs.
//
//	app, err := manifest.Load("examples/tree")
//	if err != nil { ... }
//	results, err := build.Build(ctx, app, build.Options{
//		Progress: func(e build.Event) { fmt.Println(e.Kind, e.Task) },
//	})
//
// A Go task is built from the app's folder with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o <module> ./<source>
//
// so the go command finds go.mod upward from the app (the Fusionize module for
// the bundled examples). A WAT task is built with `wat2wasm <source> -o <module>`.
// An AssemblyScript task (a .ts entry file, or a folder with index.ts) is
// built with the SDK's pinned compiler and options:
//
//	<sdk>/node_modules/.bin/asc <entry> --config <sdk>/asconfig.json --path <dir holding @fusionize/task> -o <module>
//
// where <sdk> is guest-sdk/assemblyscript of the Fusionize checkout the app
// belongs to: the enclosing Fusionize module, or the directory that the app's
// go.mod replaces github.com/fusionize/fusionize with (as `fusionize new`
// writes it outside this repository). scripts/install-assemblyscript.sh
// installs the compiler there.
//
// A task whose module is newer than every file of its source (and, for Go
// and AssemblyScript tasks, than their SDK's sources) is skipped unless
// Options.Force is set.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fusionize/fusionize/api/manifest"
)

// Options tune a build. The zero value builds every stale task with
// runtime.NumCPU() builds at a time into the manifest's module paths.
type Options struct {
	// Parallel bounds how many tasks build at once; <= 0 means runtime.NumCPU().
	Parallel int
	// Force rebuilds every task even if its module is up to date.
	Force bool
	// OutDir, if set, receives the modules as OutDir/<task>.wasm instead of
	// the manifest's module paths (the sources still come from the app).
	OutDir string
	// Progress, if set, receives a start event and then a done or failed
	// event per task. Calls are serialized: Progress needs no locking.
	Progress func(Event)
	// GoCmd is the go command; default "go" from PATH.
	GoCmd string
	// Wat2Wasm is the wat2wasm command; default "wat2wasm" from PATH.
	Wat2Wasm string
	// AssemblyScriptSDK is the AssemblyScript SDK's folder (the package
	// @fusionize/task, with the compiler installed in its node_modules);
	// default guest-sdk/assemblyscript of the app's Fusionize checkout.
	AssemblyScriptSDK string
}

// EventKind says what happened to a task.
type EventKind int

// Kinds of Event.
const (
	EventStart  EventKind = iota // the task is being checked and, if stale, built
	EventDone                    // the module is up to date (built or skipped); see Result
	EventFailed                  // the build failed; see Err
)

func (k EventKind) String() string {
	switch k {
	case EventStart:
		return "start"
	case EventDone:
		return "done"
	case EventFailed:
		return "failed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event reports progress on one task.
type Event struct {
	Kind   EventKind
	Task   string
	Result *Result // for EventDone
	Err    error   // for EventFailed
}

// Result describes one task's module after a build.
type Result struct {
	Task     string        // the task's name
	Module   string        // the module's path
	Digest   string        // "sha256:<hex>" of the module's bytes
	Size     int64         // the module's size in bytes
	Duration time.Duration // time spent on the task, including the staleness check
	Skipped  bool          // the module was up to date and was not rebuilt
}

// Build builds every task of app, at most opts.Parallel at a time. It returns
// the results of the tasks that succeeded, in manifest order, and the joined
// *TaskError of those that failed (or ctx's error if it was cancelled first).
func Build(ctx context.Context, app *manifest.App, opts Options) ([]Result, error) {
	b, err := newBuilder(app, opts)
	if err != nil {
		return nil, err
	}
	par := opts.Parallel
	if par <= 0 {
		par = runtime.NumCPU()
	}
	results := make([]*Result, len(app.Tasks))
	errs := make([]error, len(app.Tasks))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range app.Tasks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = &TaskError{Task: app.Tasks[i].Name, Err: ctx.Err()}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			t := &app.Tasks[i]
			b.emit(Event{Kind: EventStart, Task: t.Name})
			res, err := b.buildTask(ctx, t)
			if err != nil {
				errs[i] = err
				b.emit(Event{Kind: EventFailed, Task: t.Name, Err: err})
				return
			}
			results[i] = res
			b.emit(Event{Kind: EventDone, Task: t.Name, Result: res})
		})
	}
	wg.Wait()
	out := make([]Result, 0, len(results))
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, errors.Join(errs...)
}

type builder struct {
	app    *manifest.App
	opts   Options
	appDir string // absolute
	sdkDir string // the Go SDK's sources, "" if not found
	asSDK  string // the AssemblyScript SDK's folder, "" if not found

	mu sync.Mutex // serializes Progress
}

func newBuilder(app *manifest.App, opts Options) (*builder, error) {
	dir, err := filepath.Abs(app.Dir)
	if err != nil {
		return nil, fmt.Errorf("build: app %q: %w", app.Name, err)
	}
	if opts.GoCmd == "" {
		opts.GoCmd = "go"
	}
	if opts.Wat2Wasm == "" {
		opts.Wat2Wasm = "wat2wasm"
	}
	if opts.OutDir != "" {
		if opts.OutDir, err = filepath.Abs(opts.OutDir); err != nil {
			return nil, fmt.Errorf("build: out dir: %w", err)
		}
	}
	b := &builder{app: app, opts: opts, appDir: dir}
	if root := findFusionize(dir); root != "" {
		b.sdkDir = filepath.Join(root, "guest-sdk", "go", "task")
		b.asSDK = filepath.Join(root, "guest-sdk", "assemblyscript")
	}
	if opts.AssemblyScriptSDK != "" {
		if b.asSDK, err = filepath.Abs(opts.AssemblyScriptSDK); err != nil {
			return nil, fmt.Errorf("build: AssemblyScript SDK: %w", err)
		}
	}
	return b, nil
}

func (b *builder) emit(e Event) {
	if b.opts.Progress == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opts.Progress(e)
}

func (b *builder) modulePath(t *manifest.Task) string {
	if b.opts.OutDir != "" {
		return filepath.Join(b.opts.OutDir, t.Name+".wasm")
	}
	if filepath.IsAbs(t.Module) {
		return t.Module
	}
	return filepath.Join(b.appDir, t.Module)
}

func (b *builder) buildTask(ctx context.Context, t *manifest.Task) (*Result, error) {
	start := time.Now()
	module := b.modulePath(t)
	src := filepath.Join(b.appDir, t.Source)
	fail := func(out string, err error) (*Result, error) {
		return nil, &TaskError{Task: t.Name, Output: strings.TrimSpace(out), Err: err}
	}
	if _, err := os.Stat(src); err != nil {
		return fail("", fmt.Errorf("source: %w", err))
	}

	inputs := []string{src}
	if t.Lang == manifest.LangGo && b.sdkDir != "" {
		inputs = append(inputs, b.sdkDir)
	}
	if t.Lang == manifest.LangAssemblyScript && b.asSDK != "" {
		inputs = append(inputs, b.asSDKInputs()...)
	}
	skipped := false
	if !b.opts.Force {
		fresh, err := upToDate(module, inputs)
		if err != nil {
			return fail("", err)
		}
		skipped = fresh
	}
	if !skipped {
		if err := os.MkdirAll(filepath.Dir(module), 0o755); err != nil {
			return fail("", err)
		}
		// Build to a temporary name and rename, so that an interrupted or
		// failed build never leaves a module that looks up to date.
		tmp := filepath.Join(filepath.Dir(module), "."+filepath.Base(module)+fmt.Sprintf(".%d.tmp", time.Now().UnixNano()))
		var cmd *exec.Cmd
		switch t.Lang {
		case manifest.LangWAT:
			tool, err := exec.LookPath(b.opts.Wat2Wasm)
			if err != nil {
				return fail("", ErrWat2WasmNotFound)
			}
			cmd = exec.CommandContext(ctx, tool, src, "-o", tmp)
		case manifest.LangAssemblyScript:
			c, cleanup, err := b.ascCommand(ctx, src, tmp)
			if err != nil {
				return fail("", err)
			}
			defer cleanup()
			cmd = c
		default:
			cmd = exec.CommandContext(ctx, b.opts.GoCmd, "build", "-buildmode=c-shared", "-trimpath", "-o", tmp, "./"+filepath.ToSlash(filepath.Clean(t.Source)))
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		}
		cmd.Dir = b.appDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			os.Remove(tmp)
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fail(string(out), err)
		}
		if err := os.Rename(tmp, module); err != nil {
			os.Remove(tmp)
			return fail("", err)
		}
	}
	digest, size, err := digestFile(module)
	if err != nil {
		return fail("", err)
	}
	return &Result{Task: t.Name, Module: module, Digest: digest, Size: size, Duration: time.Since(start), Skipped: skipped}, nil
}

// upToDate reports whether module exists and is newer than every file under
// each of inputs (files or directories).
func upToDate(module string, inputs []string) (bool, error) {
	fi, err := os.Stat(module)
	if err != nil || fi.Size() == 0 {
		return false, nil
	}
	mod := fi.ModTime()
	stale := errors.New("stale")
	for _, in := range inputs {
		err := filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if !info.ModTime().Before(mod) {
				return stale
			}
			return nil
		})
		if err == stale {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("check %s: %w", in, err)
		}
	}
	return true, nil
}

func digestFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

// sdkModule is the module that holds the SDKs.
const sdkModule = "github.com/fusionize/fusionize"

// Checkout returns the root of the Fusionize checkout an app in dir builds
// against (the one whose SDKs it uses), or "" if there is none: the
// enclosing Fusionize module, or the local directory that the enclosing
// module's go.mod replaces github.com/fusionize/fusionize with.
func Checkout(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	return findFusionize(abs)
}

// findFusionize returns the root of the Fusionize checkout an app in dir
// builds against: the enclosing Fusionize module (as for the bundled
// examples), or the local directory that the enclosing module's go.mod
// replaces the Fusionize module with. It returns "" for apps in other
// modules without such a replace (their Go SDK comes from the module cache,
// whose files do not change) and for folders outside any module.
func findFusionize(dir string) string {
	for d := dir; ; {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			return fusionizeIn(d, string(data))
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// fusionizeIn reads go.mod's text of the module at dir for the Fusionize
// module itself or a replace of it by a local directory.
func fusionizeIn(dir, gomod string) string {
	for line := range strings.Lines(gomod) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" && f[1] == sdkModule {
			return dir
		}
		// "replace M [version] => DIR" or, inside a replace block,
		// "M [version] => DIR".
		if len(f) > 0 && f[0] == "replace" {
			f = f[1:]
		}
		arrow := slices.Index(f, "=>")
		if (arrow == 1 || arrow == 2) && len(f) == arrow+2 && f[0] == sdkModule && (strings.HasPrefix(f[arrow+1], ".") || filepath.IsAbs(f[arrow+1])) {
			target := f[arrow+1]
			if !filepath.IsAbs(target) {
				target = filepath.Join(dir, target)
			}
			return filepath.Clean(target)
		}
	}
	return ""
}

// CheckTools reports, without building, whether the tools that app's tasks
// need are installed: wat2wasm for WAT tasks, Node.js and the SDK's
// AssemblyScript compiler for AssemblyScript tasks (Go is assumed). The error
// joins a *TaskError per task whose tool is missing, wrapping
// ErrWat2WasmNotFound or ErrAssemblyScriptNotFound.
func CheckTools(app *manifest.App, opts Options) error {
	b, err := newBuilder(app, opts)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range app.Tasks {
		switch t.Lang {
		case manifest.LangWAT:
			if _, err := exec.LookPath(b.opts.Wat2Wasm); err != nil {
				errs = append(errs, &TaskError{Task: t.Name, Err: ErrWat2WasmNotFound})
			}
		case manifest.LangAssemblyScript:
			if _, err := b.ascTool(); err != nil {
				errs = append(errs, &TaskError{Task: t.Name, Err: err})
			}
		}
	}
	return errors.Join(errs...)
}
