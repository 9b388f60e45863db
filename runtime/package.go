package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
)

// What a deployed group's artifact holds for its runtime, whatever the
// platform: ConfigFile at its root, and each module under ModulesDir (a
// task's, or a module-fused group's fused module, listed with its tasks).
// A Lambda deployment package and a Cloud Function's source both carry it.
const (
	ConfigFile = "fusionize.json"
	ModulesDir = "modules"
)

// PackageConfig is ConfigFile: the group an artifact serves.
type PackageConfig struct {
	App          string       `json:"app"`
	SetupVersion int64        `json:"setupVersion"`
	Group        string       `json:"group"`
	MemoryMB     int          `json:"memoryMB"`
	Setup        *setup.Setup `json:"setup"`
	// Endpoints are the routes to other groups known when the artifact was
	// made; the rest come from the control plane (RecordedEndpoints).
	Endpoints api.Endpoints   `json:"endpoints,omitempty"`
	Modules   []PackageModule `json:"modules"`
}

// PackageModule is one module of an artifact: the module of one task, or a
// fused module (Tasks set), which Task then names (api.FusedModuleName).
type PackageModule struct {
	Task   string   `json:"task"`
	Tasks  []string `json:"tasks,omitempty"` // the tasks a fused module holds
	Digest string   `json:"digest"`          // "sha256:<hex>" of the module's bytes
	Path   string   `json:"path"`            // slash path inside the artifact
	Wasm   []byte   `json:"-"`
}

// ReadPackageConfig reads ConfigFile from the unpacked artifact at dir.
func ReadPackageConfig(dir string) (PackageConfig, error) {
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return PackageConfig{}, fmt.Errorf("runtime: %w", err)
	}
	var cfg PackageConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return PackageConfig{}, fmt.Errorf("runtime: %s: %w", ConfigFile, err)
	}
	if cfg.Group == "" || cfg.SetupVersion <= 0 || len(cfg.Modules) == 0 || cfg.Setup == nil {
		return PackageConfig{}, fmt.Errorf("runtime: %s names no group, setup version, setup or modules", ConfigFile)
	}
	if _, ok := cfg.Setup.Group(cfg.Group); !ok {
		return PackageConfig{}, fmt.Errorf("runtime: %s: setup version %d has no group %q", ConfigFile, cfg.Setup.Version, cfg.Group)
	}
	return cfg, nil
}

// Place is where the group of cfg runs according to its setup
// ("aws/us-east-1"), or "" when the setup names no region for it: the
// platform's own environment (AWS_REGION) or the adapter's deploy config
// then says.
func (cfg PackageConfig) Place() string {
	g, ok := cfg.Setup.Group(cfg.Group)
	if !ok || g.Place.Provider == "" || g.Place.Region == "" {
		return ""
	}
	return g.Place.String()
}

// ModulesIn gives the modules cfg lists, read from the artifact at dir and
// checked against their digests by the host; the fused module it lists,
// if any, is the fused module of the group.
func (cfg PackageConfig) ModulesIn(dir string) FusedModules {
	mods := packageModules{dir: dir, byTask: map[string]PackageModule{}}
	for _, m := range cfg.Modules {
		if len(m.Tasks) > 0 {
			mods.fused = append(mods.fused, m)
		} else {
			mods.byTask[m.Task] = m
		}
	}
	return mods
}

type packageModules struct {
	dir    string
	byTask map[string]PackageModule
	fused  []PackageModule
}

func (p packageModules) read(m PackageModule) ([]byte, error) {
	return os.ReadFile(filepath.Join(p.dir, filepath.FromSlash(m.Path)))
}

func (p packageModules) Module(_ context.Context, task string) ([]byte, string, error) {
	m, ok := p.byTask[task]
	if !ok {
		return nil, "", fmt.Errorf("runtime: no module of task %q in %s", task, ConfigFile)
	}
	wasm, err := p.read(m)
	return wasm, m.Digest, err
}

func (p packageModules) Fused(_ context.Context, tasks []string) ([]string, []byte, string, error) {
	for _, m := range p.fused {
		if subset(m.Tasks, tasks) {
			wasm, err := p.read(m)
			return m.Tasks, wasm, m.Digest, err
		}
	}
	return nil, nil, "", noFused(tasks)
}
