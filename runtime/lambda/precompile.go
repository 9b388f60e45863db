package lambda

import (
	"context"
	"fmt"
	"os"

	"github.com/fusionize/fusionize/runtime"
)

// PrecompileCommand is the bootstrap's first argument that makes it fill a
// compilation cache instead of serving: `bootstrap precompile <cache-dir>
// <task> <module.wasm> [<fused tasks>]`. The packager runs the very bootstrap it ships, so
// the cache is keyed by the same wazero build and configuration as the
// runtime that reads it (a cache written by another build would miss).
const PrecompileCommand = "precompile"

// Precompile compiles the module at path as task into cacheDir with the
// host configuration the runtime uses, validating it on the way.
func Precompile(ctx context.Context, cacheDir, task, path string) error {
	return runtime.Precompile(ctx, cacheDir, task, path)
}

// MainPrecompile runs the precompile command from its arguments (after the
// command word) and exits the process.
func MainPrecompile(ctx context.Context, args []string) {
	if err := runtime.PrecompileArgs(ctx, args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
