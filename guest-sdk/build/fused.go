package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/manifest"
)

// ErrNotFusable is wrapped by the error of BuildFused for a task list that
// cannot make one module: no tasks, two tasks with one name, a task that is
// not a Go task, a source that is not a main package.
var ErrNotFusable = errors.New("cannot fuse")

// FusedResult describes a fused module: one Wasm module with one Go runtime
// that holds several tasks and speaks guest ABI version 2.
type FusedResult struct {
	Tasks    []string      // the tasks it holds, sorted
	Module   string        // the module's path
	Digest   string        // "sha256:<hex>" of the module's bytes
	Size     int64         // the module's size in bytes
	Key      string        // the digest of the build's inputs, which names the cached module
	Duration time.Duration // time spent, including the cache check
	Cached   bool          // the module came from the cache and was not rebuilt
}

// The bind file sorts after every file of a task's package (BuildFused
// checks), so its init runs last in the package and binds the handler the
// package registered.
const bindFile = "zzzz_fusionize_bind.go"

// sdkImport is the Go SDK's import path.
const sdkImport = sdkModule + "/guest-sdk/go/task"

// fusedDir is the folder, below the app's module root, where the generated
// packages of a fused build appear to the go command (through -overlay:
// nothing is written there).
const fusedDir = "fusionize_fused"

// BuildFused links the Go tasks named by tasks into one module (module
// fusion). Task sources do not change: each task's main package is copied,
// as the go command sees it, into a package of its own (package main becomes
// package tN_name, func main is dropped), a generated file binds the
// handler it registers to the task's name, and a generated main package
// imports them all. The module is cached under opts.CacheDir (default
// os.UserCacheDir()/fusionize/fused) by the digest of its inputs: the task
// names, every Go file of the packages of the app's module that they build
// from (the SDK's included), go.mod, go.sum and the Go version. With
// opts.OutDir set, the module is also copied to OutDir/<name>.wasm, name
// being FusedName(tasks).
func BuildFused(ctx context.Context, app *manifest.App, tasks []string, opts Options) (*FusedResult, error) {
	start := time.Now()
	b, err := newBuilder(app, opts)
	if err != nil {
		return nil, err
	}
	srcs, err := b.fusedSources(tasks)
	if err != nil {
		return nil, err
	}
	modRoot, modPath, err := findModule(b.appDir)
	if err != nil {
		return nil, fmt.Errorf("build: fuse %s: %w", strings.Join(tasks, ","), err)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range srcs {
			if !yield(n) {
				return
			}
		}
	})
	key, err := b.fusedKey(ctx, modRoot, names, srcs)
	if err != nil {
		return nil, err
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		if cacheDir, err = os.UserCacheDir(); err != nil {
			return nil, fmt.Errorf("build: fused module cache: %w", err)
		}
		cacheDir = filepath.Join(cacheDir, "fusionize", "fused")
	}
	module := filepath.Join(cacheDir, strings.TrimPrefix(key, "sha256:")+".wasm")
	res := &FusedResult{Tasks: names, Module: module, Key: key}
	if fi, err := os.Stat(module); err == nil && fi.Size() > 0 && !opts.Force {
		res.Cached = true
	} else if err := b.linkFused(ctx, modRoot, modPath, key, names, srcs, module); err != nil {
		return nil, err
	}
	if opts.OutDir != "" {
		out := filepath.Join(b.opts.OutDir, FusedName(names)+".wasm")
		if err := copyFile(module, out); err != nil {
			return nil, fmt.Errorf("build: fused module: %w", err)
		}
		res.Module = out
	}
	if res.Digest, res.Size, err = digestFile(res.Module); err != nil {
		return nil, fmt.Errorf("build: fused module: %w", err)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// FusedName is the file name (without .wasm) BuildFused gives the fused
// module of tasks in Options.OutDir: "fused-" and the sorted names joined
// by "-", shortened with a digest when long (api.FusedModuleName: the name
// the control plane stores it by).
func FusedName(tasks []string) string { return api.FusedModuleName(tasks) }

// fusedSources checks the task list and returns each task's source folder.
func (b *builder) fusedSources(tasks []string) (map[string]string, error) {
	if len(tasks) == 0 {
		return nil, fmt.Errorf("build: %w: no tasks given", ErrNotFusable)
	}
	srcs := make(map[string]string, len(tasks))
	for _, n := range tasks {
		if _, dup := srcs[n]; dup {
			return nil, &TaskError{Task: n, Err: fmt.Errorf("%w: the task is named twice in the list to fuse", ErrNotFusable)}
		}
		t, ok := b.app.Task(n)
		if !ok {
			return nil, &TaskError{Task: n, Err: fmt.Errorf("%w: app %s has no such task", ErrNotFusable, b.app.Name)}
		}
		if t.Lang != manifest.LangGo && t.Lang != "" {
			return nil, &TaskError{Task: n, Err: fmt.Errorf("%w: only Go tasks fuse into one module; a %s task keeps its own module", ErrNotFusable, t.Lang)}
		}
		srcs[n] = filepath.Join(b.appDir, t.Source)
	}
	return srcs, nil
}

// fusedKey digests the inputs of a fused build.
func (b *builder) fusedKey(ctx context.Context, modRoot string, names []string, srcs map[string]string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "fusionize fused module 1\n")
	ver, err := b.goOutput(ctx, modRoot, "env", "GOVERSION")
	if err != nil {
		return "", fmt.Errorf("build: go version: %w", err)
	}
	fmt.Fprintf(h, "go %s\n", strings.TrimSpace(ver))
	args := []string{"list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}"}
	for _, n := range names {
		fmt.Fprintf(h, "task %s %s\n", n, srcs[n])
		args = append(args, srcs[n])
	}
	dirs, err := b.goOutput(ctx, modRoot, args...)
	if err != nil {
		return "", &TaskError{Task: strings.Join(names, ","), Output: strings.TrimSpace(dirs), Err: fmt.Errorf("list the packages to fuse: %w", err)}
	}
	files := []string{filepath.Join(modRoot, "go.mod"), filepath.Join(modRoot, "go.sum")}
	for _, d := range strings.Fields(dirs) {
		ents, err := os.ReadDir(d)
		if err != nil {
			return "", fmt.Errorf("build: %w", err)
		}
		for _, e := range ents {
			if !e.IsDir() {
				files = append(files, filepath.Join(d, e.Name()))
			}
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) && filepath.Base(f) == "go.sum" {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("build: %w", err)
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(h, "file %s %x\n", f, sum)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func (b *builder) goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, b.opts.GoCmd, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return errb.String(), err
	}
	return out.String(), nil
}

// linkFused generates the packages of a fused module into a folder next to
// the cached module and builds them with the go command, which sees them
// below the app's module root through -overlay.
func (b *builder) linkFused(ctx context.Context, modRoot, modPath, key string, names []string, srcs map[string]string, module string) error {
	all := strings.Join(names, ",")
	fail := func(out string, err error) error {
		return &TaskError{Task: all, Output: strings.TrimSpace(out), Err: err}
	}
	genDir := strings.TrimSuffix(module, ".wasm") + ".src"
	if err := os.RemoveAll(genDir); err != nil {
		return fail("", err)
	}
	short := strings.TrimPrefix(key, "sha256:")[:16]
	virt := filepath.Join(modRoot, fusedDir, short)
	if _, err := os.Stat(filepath.Join(modRoot, fusedDir)); err == nil {
		return fail("", fmt.Errorf("%s exists in the module; it is the name fused builds reserve", filepath.Join(modRoot, fusedDir)))
	}
	overlay := map[string]string{}
	var main bytes.Buffer
	main.WriteString("// Code generated by fusionize build; DO NOT EDIT.\n\n// Command fused links the tasks " + all + " into one module.\npackage main\n\nimport (\n")
	for i, n := range names {
		ident := packageIdent(i, n)
		files, err := rewriteTask(n, srcs[n], ident)
		if err != nil {
			return err
		}
		for name, src := range files {
			gen := filepath.Join(genDir, ident, name)
			if err := writeFile(gen, src); err != nil {
				return fail("", err)
			}
			overlay[filepath.Join(virt, ident, name)] = gen
		}
		rel := filepath.ToSlash(filepath.Join(fusedDir, short, ident))
		fmt.Fprintf(&main, "\t_ %s\n", strconv.Quote(modPath+"/"+rel))
	}
	main.WriteString(")\n\nfunc main() {}\n")
	gen := filepath.Join(genDir, "main", "main.go")
	if err := writeFile(gen, main.Bytes()); err != nil {
		return fail("", err)
	}
	overlay[filepath.Join(virt, "main", "main.go")] = gen
	ov, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		return fail("", err)
	}
	ovFile := filepath.Join(genDir, "overlay.json")
	if err := writeFile(ovFile, ov); err != nil {
		return fail("", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", module, time.Now().UnixNano())
	cmd := exec.CommandContext(ctx, b.opts.GoCmd, "build", "-buildmode=c-shared", "-trimpath", "-overlay", ovFile, "-o", tmp, "./"+filepath.ToSlash(filepath.Join(fusedDir, short, "main")))
	cmd.Dir = modRoot
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fail(string(out), err)
	}
	if err := os.Rename(tmp, module); err != nil {
		_ = os.Remove(tmp)
		return fail("", err)
	}
	return nil
}

// packageIdent names the generated package of the i-th task.
func packageIdent(i int, name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%03d_", i)
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// rewriteTask returns the files of task name's package rewritten into
// package ident, with the bind file: file name → source.
func rewriteTask(name, dir, ident string) (map[string][]byte, error) {
	fail := func(err error) (map[string][]byte, error) { return nil, &TaskError{Task: name, Err: err} }
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fail(fmt.Errorf("source: %w", err))
	}
	out := map[string][]byte{}
	fset := token.NewFileSet()
	for _, e := range ents {
		fn := e.Name()
		if e.IsDir() || !strings.HasSuffix(fn, ".go") || strings.HasSuffix(fn, "_test.go") || strings.HasPrefix(fn, ".") || strings.HasPrefix(fn, "_") {
			continue
		}
		if fn >= bindFile {
			return fail(fmt.Errorf("%w: file %s sorts after %s, which a fused build adds last to the package", ErrNotFusable, fn, bindFile))
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, fn), nil, parser.ParseComments)
		if err != nil {
			return fail(fmt.Errorf("source: %w", err))
		}
		if f.Name.Name != "main" {
			return fail(fmt.Errorf("%w: %s is package %s; a Go task is package main", ErrNotFusable, filepath.Join(dir, fn), f.Name.Name))
		}
		f.Name.Name = ident
		f.Decls = slices.DeleteFunc(f.Decls, func(d ast.Decl) bool {
			fd, ok := d.(*ast.FuncDecl)
			return ok && fd.Recv == nil && fd.Name.Name == "main"
		})
		var buf bytes.Buffer
		// The line directive keeps compiler messages pointing at the task's
		// own file.
		fmt.Fprintf(&buf, "//line %s:1\n", filepath.Join(dir, fn))
		if err := (&printer.Config{Mode: printer.UseSpaces | printer.TabIndent, Tabwidth: 8}).Fprint(&buf, fset, f); err != nil {
			return fail(err)
		}
		out[fn] = buf.Bytes()
	}
	if len(out) == 0 {
		return fail(fmt.Errorf("%w: no Go files in %s", ErrNotFusable, dir))
	}
	out[bindFile] = fmt.Appendf(nil, "// Code generated by fusionize build; DO NOT EDIT.\n\npackage %s\n\nimport fusionizetask %q\n\nfunc init() { fusionizetask.Bind(%q) }\n", ident, sdkImport, name)
	return out, nil
}

// findModule returns the root folder and the module path of the Go module
// that holds dir.
func findModule(dir string) (root, path string, err error) {
	for d := dir; ; {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for line := range strings.Lines(string(data)) {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
					return d, strings.Trim(f[1], `"`), nil
				}
			}
			return "", "", fmt.Errorf("%s has no module line", filepath.Join(d, "go.mod"))
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", "", fmt.Errorf("no go.mod above %s: a fused build needs the app in a Go module", dir)
		}
		d = parent
	}
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", to, time.Now().UnixNano())
	if err := writeFile(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, to); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
