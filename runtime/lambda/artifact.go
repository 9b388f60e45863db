package lambda

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"

	"github.com/fusionize/fusionize/internal/artifact"
	"github.com/fusionize/fusionize/runtime"
)

// Layout of a fusion group's deployment package (the zip uploaded as the
// function's code):
//
//	bootstrap          the runtime, linux/amd64 or linux/arm64 (executable)
//	fusionize.json     Config: app, setup version, group, setup, endpoints
//	modules/<task>.wasm the group's task modules, and a module-fused group's
//	                   fused module as modules/fused-<tasks>.wasm
//	cache/...          wazero's compilation cache for the target architecture,
//	                   when it could be built where the package was made
const (
	BootstrapFile = "bootstrap"
	ConfigFile    = runtime.ConfigFile
	ModulesDir    = runtime.ModulesDir
	CacheDir      = runtime.CacheDir
)

// Config is the package's ConfigFile, as every runtime reads it.
type Config = runtime.PackageConfig

// Module is one task module of the package.
type Module = runtime.PackageModule

// Package is the content of a deployment package.
type Package struct {
	Bootstrap []byte
	Config    Config
	Modules   []Module
	// Cache holds the compilation cache's files by path relative to the
	// cache directory.
	Cache map[string][]byte
}

// Write writes p as a zip to w; the same package gives the same bytes.
func (p Package) Write(w io.Writer) (artifact.Info, error) {
	if len(p.Bootstrap) == 0 {
		return artifact.Info{}, fmt.Errorf("lambda package: no bootstrap")
	}
	cfg := p.Config
	cfg.Modules = nil
	files := []artifact.File{{Name: BootstrapFile, Mode: 0o755, Data: p.Bootstrap}}
	mods := append([]Module(nil), p.Modules...)
	sort.Slice(mods, func(i, j int) bool { return mods[i].Task < mods[j].Task })
	for _, m := range mods {
		m.Path = path.Join(ModulesDir, m.Task+".wasm")
		files = append(files, artifact.File{Name: m.Path, Data: m.Wasm})
		cfg.Modules = append(cfg.Modules, m)
	}
	for name, data := range p.Cache {
		files = append(files, artifact.File{Name: path.Join(CacheDir, name), Data: data})
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return artifact.Info{}, fmt.Errorf("lambda package: %w", err)
	}
	files = append(files, artifact.File{Name: ConfigFile, Data: data})
	return artifact.Zip(w, files)
}

// ReadConfig reads the package's Config from the task root dir.
func ReadConfig(dir string) (Config, error) { return runtime.ReadPackageConfig(dir) }
