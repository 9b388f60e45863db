package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
)

// FusedModules is a Modules that also gives fused modules (guest ABI
// version 2, built by guest-sdk/build.BuildFused): NewHost asks it for the
// fused module of a module-fused group.
type FusedModules interface {
	Modules
	// Fused returns the fused module of a module-fused group of tasks: the
	// tasks it holds (some of tasks: the group's Go tasks that are not
	// isolated), its bytes and digest. No fused module for the group is
	// an error naming the group's tasks.
	Fused(ctx context.Context, tasks []string) (held []string, wasm []byte, digest string, err error)
}

// PickFused chooses the fused module of a module-fused group of tasks from
// the modules the control plane stores: among the fused modules whose tasks
// all belong to the group, the one holding the most, the latest upload of
// equals. The deployer uploads the fused module of each module-fused group
// (its Go tasks that are not isolated) before it deploys the group, so this
// is that module; a fused module of fewer of the group's tasks, uploaded for
// an older setup, never wins over it.
func PickFused(infos []api.ModuleInfo, tasks []string) (api.ModuleInfo, bool) {
	var best api.ModuleInfo
	found := false
	for _, m := range infos {
		if !m.Fused() || !subset(m.Tasks, tasks) {
			continue
		}
		if !found || len(m.Tasks) > len(best.Tasks) || len(m.Tasks) == len(best.Tasks) && m.UploadedAt.After(best.UploadedAt) {
			best, found = m, true
		}
	}
	return best, found
}

func subset(of, in []string) bool {
	for _, t := range of {
		if !slices.Contains(in, t) {
			return false
		}
	}
	return true
}

// ErrNoFusedModule is wrapped by NewHost and the packagers for a
// module-fused group whose fused module was never uploaded.
var ErrNoFusedModule = errors.New("no fused module")

// noFused is the error of a module-fused group without a fused module.
func noFused(tasks []string) error {
	return fmt.Errorf("runtime: %w uploaded for the module-fused group of %s", ErrNoFusedModule, strings.Join(tasks, ","))
}

// groupUnits splits a group into what its host loads: for a module-fused
// group, the fused module (held tasks) and every other task on its own; for
// any other group, every task on its own.
func groupUnits(ctx context.Context, g setup.Group, mods Modules) (fused []string, wasm []byte, digest string, rest []string, err error) {
	if !g.ModuleFused() {
		return nil, nil, "", g.Tasks, nil
	}
	fm, ok := mods.(FusedModules)
	if !ok {
		return nil, nil, "", nil, fmt.Errorf("runtime: group %q is module-fused, and its modules come from a source without fused modules", g.Name)
	}
	held, wasm, digest, err := fm.Fused(ctx, g.Tasks)
	if err != nil {
		return nil, nil, "", nil, err
	}
	for _, t := range g.Tasks {
		if !slices.Contains(held, t) {
			rest = append(rest, t)
		}
	}
	return held, wasm, digest, rest, nil
}

// ModulesOf lists what the host of g loads, chosen from the modules the
// control plane stores (the latest of each name): for a module-fused group
// its fused module (PickFused) first, then the module of each task that
// module does not hold; for any other group the module of each task. A task
// without a module, or a module-fused group without a fused module, is an
// error naming it.
func ModulesOf(infos []api.ModuleInfo, g setup.Group) ([]api.ModuleInfo, error) {
	byTask := map[string]api.ModuleInfo{}
	for _, m := range infos {
		if !m.Fused() {
			byTask[m.Task] = m
		}
	}
	var out []api.ModuleInfo
	rest := g.Tasks
	if g.ModuleFused() {
		f, ok := PickFused(infos, g.Tasks)
		if !ok {
			return nil, noFused(g.Tasks)
		}
		out = append(out, f)
		rest = nil
		for _, t := range g.Tasks {
			if !slices.Contains(f.Tasks, t) {
				rest = append(rest, t)
			}
		}
	}
	var missing []string
	for _, t := range rest {
		m, ok := byTask[t]
		if !ok {
			missing = append(missing, fmt.Sprintf("%q", t))
			continue
		}
		out = append(out, m)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("runtime: no module uploaded for task %s", strings.Join(missing, ", "))
	}
	return out, nil
}
