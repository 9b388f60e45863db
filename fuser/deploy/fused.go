package deploy

import (
	"context"
	"fmt"
	"os"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/store"
	"github.com/fusionize/fusionize/guest-sdk/build"
	"github.com/fusionize/fusionize/host"
)

// FusedOptions tune FusedModules.
type FusedOptions struct {
	// Build is handed to build.BuildFused (its CacheDir keeps fused modules
	// by the digest of their inputs).
	Build build.Options
	// Check is how a fused module is checked before it is stored, as the
	// control plane checks an upload (server.Options.ModuleCacheDir).
	Check host.CheckOptions
}

// FusedModules returns an Options.Prepare hook for app: for each
// module-fused group of a setup it builds the fused module of the group's
// Go tasks that are not isolated (manifest.App.ModuleFusable) from the
// app's sources with build.BuildFused, checks it as the control plane
// checks an upload (host.CheckFusedModule) and stores it in st under
// api.FusedModuleName of its tasks, where hosts and packagers fetch it
// (runtime.ModulesOf). A build is cached by the digest of its inputs, so a
// group that an earlier setup already had costs a cache check. A
// module-fused group with no task to fuse is an error naming the group.
func FusedModules(app *manifest.App, st *store.Store, opts FusedOptions) func(context.Context, *setup.Setup) error {
	return func(ctx context.Context, su *setup.Setup) error {
		for _, g := range su.Groups {
			if !g.ModuleFused() {
				continue
			}
			tasks := app.ModuleFusable(g.Tasks)
			if len(tasks) == 0 {
				return fmt.Errorf("group %q is module-fused, and none of its tasks is a Go task that is not isolated", g.Name)
			}
			res, err := build.BuildFused(ctx, app, tasks, opts.Build)
			if err != nil {
				return fmt.Errorf("group %q: %w", g.Name, err)
			}
			if err := storeFused(ctx, st, res, opts.Check); err != nil {
				return fmt.Errorf("group %q: %w", g.Name, err)
			}
		}
		return nil
	}
}

// storeFused stores the fused module res in st, checked first.
func storeFused(ctx context.Context, st *store.Store, res *build.FusedResult, opts host.CheckOptions) error {
	f, err := os.Open(res.Module)
	if err != nil {
		return err
	}
	defer f.Close()
	check := func(path string) error {
		wasm, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return host.CheckFusedModule(ctx, res.Tasks, wasm, opts)
	}
	_, err = st.PutCheckedFusedModule(ctx, build.FusedName(res.Tasks), res.Tasks, f, res.Digest, 0, check)
	return err
}
