package gcp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/fusionize/fusionize/internal/artifact"
	"github.com/fusionize/fusionize/runtime/gcf"
)

// FusionizeModule is the module path of this repository, which every
// function source requires (vendored).
const FusionizeModule = "github.com/fusionize/fusionize"

// fusionizePseudoVersion is the version a function source requires this
// module at: the zero pseudo-version, as for a module only ever replaced.
const fusionizePseudoVersion = "v0.0.0-00010101000000-000000000000"

// Packager builds function sources (runtime/gcf's layout): a generated Go
// module requiring this one, with the group's modules and configuration as
// data files and every dependency vendored, so Cloud Functions' build needs
// no network. Vendoring runs offline (GOPROXY=off) from the module cache
// and is cached per digest of this module's source, on disk and in memory,
// so repeat deploys of unchanged code only zip. On linux/amd64 it also
// ships wazero's compilation cache of the modules (see precompile), kept
// per vendor tree and module digest.
type Packager struct {
	// ModuleRoot is the directory of this module's go.mod. Default: the
	// module of the working directory (`go env GOMOD`), which must be this
	// one.
	ModuleRoot string
	// NoCache ships no compilation cache: every cold start compiles the
	// group's modules (to measure what the cache saves).
	NoCache bool

	dir string
	log *slog.Logger

	mu    sync.Mutex
	trees map[string]*vendorTree // by source digest

	buildMu sync.Mutex // builds of precompilers
}

// vendorTree is the vendored dependencies of a function source.
type vendorTree struct {
	digest       string // of the module source it was vendored from
	goMod, goSum []byte
	files        map[string][]byte // below vendor/
}

// NewPackager returns a packager that caches vendor trees in dir (default:
// the user cache dir's fusionize/gcf).
func NewPackager(dir string, log *slog.Logger) *Packager {
	if dir == "" {
		if c, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(c, "fusionize", "gcf")
		} else {
			dir = filepath.Join(os.TempDir(), "fusionize-gcf")
		}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Packager{dir: dir, log: log, trees: map[string]*vendorTree{}}
}

// Build writes the function source of cfg with mods and reports its digest
// and size. The same inputs give the same bytes.
func (p *Packager) Build(ctx context.Context, cfg gcf.Config, mods []gcf.Module) ([]byte, artifact.Info, error) {
	tree, err := p.vendor(ctx)
	if err != nil {
		return nil, artifact.Info{}, err
	}
	cache, err := p.precompile(ctx, tree, mods)
	if err != nil {
		return nil, artifact.Info{}, err
	}
	mod := gcf.ModuleName(cfg.Group)
	goMod := moduleLine.ReplaceAll(tree.goMod, []byte("module "+mod))
	var buf bytes.Buffer
	info, err := gcf.Source{ModulePath: mod, GoMod: goMod, GoSum: tree.goSum, Vendor: tree.files, Config: cfg, Modules: mods, Cache: cache}.Write(&buf)
	if err != nil {
		return nil, artifact.Info{}, fmt.Errorf("gcp: %w", err)
	}
	return buf.Bytes(), info, nil
}

var moduleLine = regexp.MustCompile(`(?m)^module .*$`)

func (p *Packager) root() (string, error) {
	if p.ModuleRoot != "" {
		return p.ModuleRoot, nil
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("gcp: find the fusionize module: go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	data, err := os.ReadFile(gomod)
	if err != nil || !bytes.Contains(data, []byte("module "+FusionizeModule+"\n")) {
		return "", fmt.Errorf("gcp: the working directory is not in the %s module (go.mod %q): set Packager.ModuleRoot", FusionizeModule, gomod)
	}
	return filepath.Dir(gomod), nil
}

// vendor returns the vendor tree of the module's current source.
func (p *Packager) vendor(ctx context.Context) (*vendorTree, error) {
	root, err := p.root()
	if err != nil {
		return nil, err
	}
	digest, err := SourceDigest(root)
	if err != nil {
		return nil, fmt.Errorf("gcp: digest of %s: %w", root, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.trees[digest]; ok {
		return t, nil
	}
	cached := filepath.Join(p.dir, "vendor-"+digest[:16])
	if t, err := readTree(cached); err == nil {
		t.digest = digest
		p.trees[digest] = t
		return t, nil
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	work, err := os.MkdirTemp(p.dir, "vendoring-")
	if err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	defer os.RemoveAll(work)
	p.log.Info("vendoring the function runtime", "module", root, "digest", digest[:16])
	if err := vendorInto(ctx, root, work); err != nil {
		return nil, err
	}
	t, err := readTree(work)
	if err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	t.digest = digest
	// Keep the tree for the next deploy; a concurrent packager that got
	// there first wins.
	if err := os.Rename(work, cached); err != nil && !os.IsExist(err) {
		p.log.Debug("vendor tree not cached", "err", err)
	}
	p.trees[digest] = t
	return t, nil
}

// vendorInto writes into dir a module requiring this one (replaced by root)
// with the requirements of root's go.mod, vendors it offline, then drops
// the replacement from go.mod and vendor/modules.txt so the source stands
// alone: the vendored copy is the module.
func vendorInto(ctx context.Context, root, dir string) error {
	rootMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	goMod := generatedGoMod(rootMod)
	withReplace := goMod + "\nreplace " + FusionizeModule + " => " + root + "\n"
	for name, data := range map[string][]byte{"go.mod": []byte(withReplace), "go.sum": sum, gcf.FunctionFile: gcf.FunctionSource("vendor")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("gcp: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "vendor")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOSUMDB=off", "GOTOOLCHAIN=local")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gcp: go mod vendor (offline, from the module cache; `go mod download` in %s fills it) for the function source: %v: %s", root, err, strings.TrimSpace(out.String()))
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644); err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, gcf.FunctionFile)); err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	mt := filepath.Join(dir, "vendor", "modules.txt")
	data, err := os.ReadFile(mt)
	if err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	return os.WriteFile(mt, dropReplace(data, root), 0o644)
}

// generatedGoMod is the go.mod of a function source: this module at the
// zero pseudo-version, and every requirement of this module's go.mod (so
// the build list is the one this module is tested with).
func generatedGoMod(rootMod []byte) string {
	var b strings.Builder
	b.WriteString("module " + gcf.ModuleName("vendor") + "\n\n")
	for line := range strings.Lines(string(rootMod)) {
		if strings.HasPrefix(line, "go ") || strings.HasPrefix(line, "toolchain ") {
			b.WriteString(line)
		}
	}
	b.WriteString("\nrequire (\n\t" + FusionizeModule + " " + fusionizePseudoVersion + "\n")
	in := false
	for line := range strings.Lines(string(rootMod)) {
		t := strings.TrimSpace(line)
		switch {
		case t == "require (":
			in = true
		case in && t == ")":
			in = false
		case in && t != "":
			b.WriteString("\t" + t + "\n")
		case strings.HasPrefix(t, "require ") && !strings.HasSuffix(t, "("):
			b.WriteString("\t" + strings.TrimPrefix(t, "require ") + "\n")
		}
	}
	b.WriteString(")\n")
	return b.String()
}

// dropReplace removes the replacement of this module by root from a
// vendor/modules.txt.
func dropReplace(modulesTxt []byte, root string) []byte {
	var b strings.Builder
	for line := range strings.Lines(string(modulesTxt)) {
		switch strings.TrimRight(line, "\n") {
		case "# " + FusionizeModule + " " + fusionizePseudoVersion + " => " + root:
			b.WriteString("# " + FusionizeModule + " " + fusionizePseudoVersion + "\n")
		case "# " + FusionizeModule + " => " + root:
			// the replace directive's own line
		default:
			b.WriteString(line)
		}
	}
	return []byte(b.String())
}

// readTree reads go.mod, go.sum and vendor/ of dir.
func readTree(dir string) (*vendorTree, error) {
	t := &vendorTree{files: map[string][]byte{}}
	var err error
	if t.goMod, err = os.ReadFile(filepath.Join(dir, "go.mod")); err != nil {
		return nil, err
	}
	if t.goSum, err = os.ReadFile(filepath.Join(dir, "go.sum")); err != nil {
		return nil, err
	}
	vdir := filepath.Join(dir, "vendor")
	err = artifact.ReadTree(vdir, t.files)
	if err != nil {
		return nil, err
	}
	if _, ok := t.files["modules.txt"]; !ok {
		return nil, fmt.Errorf("%s has no vendor/modules.txt", dir)
	}
	return t, nil
}

// SourceDigest is the SHA-256 of what a vendored copy of the module at
// root is made of: go.mod, go.sum and every non-test .go file, outside
// testdata, examples, hidden directories and nested modules.
func SourceDigest(root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path == root {
				return nil
			}
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "examples" || name == "node_modules" || name == "bin" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		isGo := strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
		if !isGo && !(filepath.Dir(path) == root && (name == "go.mod" || name == "go.sum")) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
