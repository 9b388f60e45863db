package gcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/fusionize/fusionize/internal/artifact"
	"github.com/fusionize/fusionize/runtime/gcf"
)

// ErrModule is wrapped by Packager.Build when a module does not load; the error names the
// task.
var ErrModule = errors.New("module does not load")

// precompile fills a compilation cache per module — kept by digest, so a module compiles
// once however many sources hold it — with a program built from the source's own vendor/
// tree the way the buildpack builds the function (gcf.PrecompileSource), so the cache
// matches the function's wazero; that also validates every module, so a bad one fails the
// deploy naming its task. It returns the caches' files. Where this machine is not
// linux/amd64 (the buildpack's target) it validates in process and ships no cache.
func (p *Packager) precompile(ctx context.Context, tree *vendorTree, mods []gcf.Module) (map[string][]byte, error) {
	if p.NoCache || goruntime.GOOS != "linux" || goruntime.GOARCH != "amd64" {
		for _, m := range mods {
			if err := m.Check(ctx); err != nil {
				return nil, fmt.Errorf("gcp: %w: %w", ErrModule, err)
			}
		}
		return nil, nil
	}
	bin, err := p.precompiler(ctx, tree)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, m := range mods {
		dir := filepath.Join(p.dir, "compiled", tree.digest[:16], m.CompiledName())
		if _, err := os.Stat(dir); err != nil {
			if err := compileInto(ctx, bin, dir, m); err != nil {
				return nil, err
			}
		}
		if err := artifact.ReadTree(dir, files); err != nil {
			return nil, fmt.Errorf("gcp: compilation cache of task %q: %w", m.Task, err)
		}
	}
	return files, nil
}

// precompiler returns the precompile program of tree, building it once per source digest.
func (p *Packager) precompiler(ctx context.Context, tree *vendorTree) (string, error) {
	p.buildMu.Lock()
	defer p.buildMu.Unlock()
	bin := filepath.Join(p.dir, "precompile-"+tree.digest[:16])
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return "", fmt.Errorf("gcp: %w", err)
	}
	work, err := os.MkdirTemp(p.dir, "precompile-")
	if err != nil {
		return "", fmt.Errorf("gcp: %w", err)
	}
	defer os.RemoveAll(work)
	files := map[string][]byte{"go.mod": tree.goMod, "go.sum": tree.goSum, filepath.Join(gcf.PrecompileDir, "main.go"): gcf.PrecompileSource()}
	for name, data := range tree.files {
		files[filepath.Join(gcf.VendorDir, filepath.FromSlash(name))] = data
	}
	for name, data := range files {
		path := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", fmt.Errorf("gcp: %w", err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return "", fmt.Errorf("gcp: %w", err)
		}
	}
	out := filepath.Join(work, "precompile")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "./"+gcf.PrecompileDir)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=vendor", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	p.log.Info("building the precompiler of the function source", "digest", tree.digest[:16])
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gcp: build the precompiler from the function source's vendor tree: %v: %s", err, strings.TrimSpace(log.String()))
	}
	if err := os.Rename(out, bin); err != nil {
		return "", fmt.Errorf("gcp: %w", err)
	}
	return bin, nil
}

// compileInto compiles m into a new compilation cache at dir with the precompiler bin.
func compileInto(ctx context.Context, bin, dir string, m gcf.Module) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".compile-")
	if err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	defer os.RemoveAll(tmp)
	wasm := filepath.Join(tmp, "module.wasm")
	if err := os.WriteFile(wasm, m.Wasm, 0o644); err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	cache := filepath.Join(tmp, "cache")
	args := []string{cache, m.Task, wasm}
	if len(m.Tasks) > 0 {
		args = append(args, strings.Join(m.Tasks, ","))
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("gcp: %w: task %q: %s", ErrModule, m.Task, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(cache, dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil { // not a concurrent packager's
			return fmt.Errorf("gcp: %w", err)
		}
	}
	return nil
}
