package aws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/internal/artifact"
	lambdart "github.com/fusionize/fusionize/runtime/lambda"
)

// ErrModule is wrapped by Packager.Build when a module does not load; the
// error names the task.
var ErrModule = errors.New("module does not load")

// BootstrapPackage is the main package of the Lambda runtime's bootstrap.
const BootstrapPackage = "github.com/fusionize/fusionize/runtime/lambda/bootstrap"

// Packager builds deployment packages: it builds the bootstrap once per
// architecture (from this module's source, or takes a prebuilt one) and
// precompiles the group's modules into wazero's compilation cache where the
// target architecture is this machine's.
type Packager struct {
	dir string // built bootstraps, by architecture
	log *slog.Logger

	// Prebuilt maps an architecture ("x86_64", "arm64") to a bootstrap
	// built elsewhere; the packager then builds none for it.
	Prebuilt map[string]string

	mu    sync.Mutex
	built map[string][]byte
	paths map[string]string // where each built bootstrap is, named by its digest
}

// NewPackager returns a packager that keeps built bootstraps in dir
// (default: the user cache dir's fusionize/lambda).
func NewPackager(dir string, log *slog.Logger) *Packager {
	if dir == "" {
		if c, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(c, "fusionize", "lambda")
		} else {
			dir = filepath.Join(os.TempDir(), "fusionize-lambda")
		}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Packager{dir: dir, log: log, built: map[string][]byte{}, paths: map[string]string{}}
}

// goArch maps a Lambda architecture to GOARCH.
func goArch(arch string) (string, error) {
	switch arch {
	case "x86_64", "":
		return "amd64", nil
	case "arm64":
		return "arm64", nil
	}
	return "", fmt.Errorf("architecture %q: Lambda runs x86_64 and arm64", arch)
}

// Bootstrap returns the bootstrap executable for arch.
func (p *Packager) Bootstrap(ctx context.Context, arch string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.built[arch]; ok {
		return b, nil
	}
	if path, ok := p.Prebuilt[arch]; ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("aws: prebuilt bootstrap: %w", err)
		}
		p.built[arch] = b
		return b, nil
	}
	goarch, err := goArch(arch)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	// Built into a file of its own and kept under its digest: packagers of
	// other checkouts may share dir, and must not swap the bootstrap (and
	// the one that precompiles the cache) under this one.
	tmp, err := os.MkdirTemp(p.dir, ".build-")
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bootstrap")
	// -trimpath and an empty build id make the same source give the same
	// bytes, so packages are reproducible; go's build cache makes a
	// rebuild of unchanged source take a moment.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "lambda.norpc",
		"-ldflags", "-s -w -buildid=", "-o", out, BootstrapPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	p.log.Info("building the Lambda bootstrap", "arch", arch)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("aws: build the Lambda bootstrap (%s) for %s: %v: %s (run inside the fusionize module, or give Packager.Prebuilt)", BootstrapPackage, arch, err, strings.TrimSpace(stderr.String()))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	kept := filepath.Join(p.dir, "bootstrap-linux-"+goarch+"-"+host.Digest(b)[len("sha256:"):][:16])
	if err := os.Rename(out, kept); err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	p.built[arch], p.paths[arch] = b, kept
	return b, nil
}

// bootstrapPath returns the path of the bootstrap for arch, building it if
// needed.
func (p *Packager) bootstrapPath(ctx context.Context, arch string) (string, error) {
	if path, ok := p.Prebuilt[arch]; ok {
		return path, nil
	}
	if _, err := p.Bootstrap(ctx, arch); err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paths[arch], nil
}

// Build writes the deployment package of cfg with mods for arch.
func (p *Packager) Build(ctx context.Context, arch string, cfg lambdart.Config, mods []lambdart.Module) ([]byte, artifact.Info, error) {
	boot, err := p.Bootstrap(ctx, arch)
	if err != nil {
		return nil, artifact.Info{}, err
	}
	cache, err := p.precompile(ctx, arch, mods)
	if err != nil {
		return nil, artifact.Info{}, err
	}
	var buf bytes.Buffer
	info, err := lambdart.Package{Bootstrap: boot, Config: cfg, Modules: mods, Cache: cache}.Write(&buf)
	if err != nil {
		return nil, artifact.Info{}, fmt.Errorf("aws: %w", err)
	}
	return buf.Bytes(), info, nil
}

// precompile fills a compilation cache per module — kept by digest, so a
// module compiles once however many packages hold it — by running the
// bootstrap that ships (`bootstrap precompile`), so the cache matches the
// runtime's wazero exactly; that also validates every module, so a bad one
// fails the deploy naming its task. It returns the caches' files. For an
// architecture this machine cannot run it validates in process and ships no
// cache.
func (p *Packager) precompile(ctx context.Context, arch string, mods []lambdart.Module) (map[string][]byte, error) {
	goarch, err := goArch(arch)
	if err != nil {
		return nil, err
	}
	if goarch != runtime.GOARCH || runtime.GOOS != "linux" {
		for _, m := range mods {
			if err := m.Check(ctx); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrModule, err)
			}
		}
		return nil, nil
	}
	boot, err := p.bootstrapPath(ctx, arch)
	if err != nil {
		return nil, err
	}
	bin, err := p.Bootstrap(ctx, arch)
	if err != nil {
		return nil, err
	}
	// A cache is only good for the bootstrap that wrote it.
	build := host.Digest(bin)[len("sha256:"):][:16]
	files := map[string][]byte{}
	for _, m := range mods {
		dir := filepath.Join(p.dir, "compiled", build, m.CompiledName())
		if _, err := os.Stat(dir); err != nil {
			if err := p.compileInto(ctx, boot, dir, m); err != nil {
				return nil, err
			}
		}
		if err := artifact.ReadTree(dir, files); err != nil {
			return nil, fmt.Errorf("aws: compilation cache of task %q: %w", m.Task, err)
		}
	}
	return files, nil
}

// compileInto compiles m into a new compilation cache at dir with the
// bootstrap at boot.
func (p *Packager) compileInto(ctx context.Context, boot, dir string, m lambdart.Module) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".compile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	wasm := filepath.Join(tmp, "module.wasm")
	if err := os.WriteFile(wasm, m.Wasm, 0o644); err != nil {
		return err
	}
	cache := filepath.Join(tmp, "cache")
	args := []string{lambdart.PrecompileCommand, cache, m.Task, wasm}
	if len(m.Tasks) > 0 {
		args = append(args, strings.Join(m.Tasks, ","))
	}
	out, err := exec.CommandContext(ctx, boot, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: task %q: %s", ErrModule, m.Task, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(cache, dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil { // not a concurrent packager's
			return err
		}
	}
	return nil
}
