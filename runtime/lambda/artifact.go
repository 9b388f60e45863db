package lambda

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/internal/artifact"
)

// Layout of a fusion group's deployment package (the zip uploaded as the
// function's code):
//
//	bootstrap          the runtime, linux/amd64 or linux/arm64 (executable)
//	fusionize.json     Config: app, setup version, group, setup, endpoints
//	modules/<task>.wasm the group's task modules
//	cache/...          wazero's compilation cache for the target architecture,
//	                   when it could be built where the package was made
const (
	BootstrapFile = "bootstrap"
	ConfigFile    = "fusionize.json"
	ModulesDir    = "modules"
	CacheDir      = "cache"
)

// Config is what a deployment package tells its runtime.
type Config struct {
	App          string       `json:"app"`
	SetupVersion int64        `json:"setupVersion"`
	Group        string       `json:"group"`
	MemoryMB     int          `json:"memoryMB"`
	Setup        *setup.Setup `json:"setup"`
	// Endpoints are the routes to other groups known when the package was
	// made (the deploying adapter's own groups of the setup).
	Endpoints api.Endpoints `json:"endpoints,omitempty"`
	Modules   []Module      `json:"modules"`
}

// Module is one task module of the package.
type Module struct {
	Task   string `json:"task"`
	Digest string `json:"digest"` // "sha256:<hex>" of the module's bytes
	Path   string `json:"path"`   // inside the package
	Wasm   []byte `json:"-"`
}

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
func ReadConfig(dir string) (Config, error) {
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return Config{}, fmt.Errorf("lambda package: %w", err)
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("lambda package: %s: %w", ConfigFile, err)
	}
	if cfg.Group == "" || cfg.SetupVersion <= 0 || len(cfg.Modules) == 0 || cfg.Setup == nil {
		return Config{}, fmt.Errorf("lambda package: %s names no group, setup version or modules", ConfigFile)
	}
	return cfg, nil
}
