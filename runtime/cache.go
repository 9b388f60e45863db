package runtime

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/fusionize/fusionize/host"
)

// CacheDir is the directory of a Lambda package or a Cloud Function source that holds
// wazero's compilation cache of the group's modules, written where the artifact was made
// by a program built from the same source as the runtime (see [Precompile]).
const CacheDir = "cache"

// Precompile compiles the module at path as task into cacheDir with the host
// configuration the runtimes use, validating it on the way. It must run in a program
// built like the runtime that will read the cache: wazero keys the cache by its own
// version (as the binary's build information reports it), the CPU's features and the
// module with its compile options, and a miss compiles again.
func Precompile(ctx context.Context, cacheDir, task, path string) error {
	h, err := host.New(ctx, host.Config{Name: "precompile", CacheDir: cacheDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if err := h.LoadFile(ctx, task, path, ""); err != nil {
		_ = h.Close(ctx)
		return err
	}
	return h.Close(ctx)
}

// PrecompileArgs runs Precompile from a precompile command's arguments:
// `<cache-dir> <task> <module.wasm>` for the module of one task, and
// `<cache-dir> <name> <module.wasm> <task,task,...>` for a fused module.
func PrecompileArgs(ctx context.Context, args []string) error {
	switch len(args) {
	case 3:
		return Precompile(ctx, args[0], args[1], args[2])
	case 4:
		return PrecompileFused(ctx, args[0], strings.Split(args[3], ","), args[2])
	}
	return fmt.Errorf("usage: precompile <cache-dir> <task> <module.wasm> [<fused tasks, comma-separated>]")
}

// PrecompileFused is Precompile for the fused module at path that holds tasks.
func PrecompileFused(ctx context.Context, cacheDir string, tasks []string, path string) error {
	h, err := host.New(ctx, host.Config{Name: "precompile", CacheDir: cacheDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if err := h.LoadFusedFile(ctx, tasks, path, ""); err != nil {
		_ = h.Close(ctx)
		return err
	}
	return h.Close(ctx)
}

// WritableCache returns a writable compilation cache holding the artifact's precompiled
// modules (root/[CacheDir]): that directory where it is writable (the emulators, Cloud
// Run's in-memory file system), else a copy in the temporary directory (Lambda's task
// root is read-only, and wazero writes to its cache on a miss). Without root/[CacheDir]
// it is an empty directory in the temporary directory.
func WritableCache(root string) (string, error) {
	src := filepath.Join(root, CacheDir)
	if _, err := os.Stat(src); err != nil {
		return filepath.Join(os.TempDir(), "fusionize-cache"), nil
	}
	probe, err := os.CreateTemp(src, ".probe-")
	if err == nil {
		probe.Close()
		return src, os.Remove(probe.Name())
	}
	dst := filepath.Join(os.TempDir(), "fusionize-cache")
	return dst, copyTree(src, dst)
}

// CacheEntries counts the compiled modules in a compilation cache directory: one file
// per module, by wazero's key. A load that raises the count compiled because the cache
// missed.
func CacheEntries(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name()[0] != '.' {
			n++
		}
		return nil
	})
	return n
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// Check runs the checks of a host's load on m in this process, as a
// packager does before it ships m: a fused module's for a fused module, a
// task module's otherwise.
func (m PackageModule) Check(ctx context.Context) error {
	if len(m.Tasks) > 0 {
		return host.CheckFusedModule(ctx, m.Tasks, m.Wasm, host.CheckOptions{})
	}
	return host.CheckModule(ctx, m.Task, m.Wasm, host.CheckOptions{})
}

// CompiledName names a packager's kept compilation cache of m: its digest,
// and for a fused module the tasks it was checked to hold, so that a claim
// of other tasks is checked again.
func (m PackageModule) CompiledName() string {
	name := strings.TrimPrefix(m.Digest, "sha256:")
	if len(m.Tasks) > 0 {
		name += "-" + host.Digest([]byte(strings.Join(m.Tasks, ",")))[len("sha256:"):][:16]
	}
	return name
}
