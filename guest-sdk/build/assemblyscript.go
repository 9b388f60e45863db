package build

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// asSDKInputs are the files of the AssemblyScript SDK a module depends on:
// the SDK's sources, its compiler options and the pinned compiler version.
func (b *builder) asSDKInputs() []string {
	return []string{
		filepath.Join(b.asSDK, "assembly"),
		filepath.Join(b.asSDK, "index.ts"),
		filepath.Join(b.asSDK, "asconfig.json"),
		filepath.Join(b.asSDK, "package-lock.json"),
	}
}

// asEntry is the entry file of an AssemblyScript task's source: the source
// itself when it is a file, else its index.ts.
func asEntry(src string) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("source: %w", err)
	}
	if !fi.IsDir() {
		return src, nil
	}
	entry := filepath.Join(src, "index.ts")
	if _, err := os.Stat(entry); err != nil {
		return "", fmt.Errorf("source %s is a folder without index.ts: %w", src, err)
	}
	return entry, nil
}

// ascTool returns the path of the SDK's asc, or an error wrapping
// ErrAssemblyScriptNotFound that says what is missing.
func (b *builder) ascTool() (string, error) {
	if b.asSDK == "" {
		return "", fmt.Errorf("%w: the app is not inside a Fusionize checkout and its go.mod does not replace %s with one (or set the SDK's folder)", ErrAssemblyScriptNotFound, sdkModule)
	}
	asc := filepath.Join(b.asSDK, "node_modules", ".bin", "asc")
	if _, err := os.Stat(asc); err != nil {
		return "", fmt.Errorf("%w: no %s", ErrAssemblyScriptNotFound, asc)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("%w: node is not on PATH (asc runs on Node.js 20 or later)", ErrAssemblyScriptNotFound)
	}
	return asc, nil
}

// ascCommand returns the command that compiles the AssemblyScript task at
// src to out, and a function that removes what the command needs while it
// runs (a folder that resolves the import "@fusionize/task" to the SDK).
func (b *builder) ascCommand(ctx context.Context, src, out string) (*exec.Cmd, func(), error) {
	asc, err := b.ascTool()
	if err != nil {
		return nil, nil, err
	}
	entry, err := asEntry(src)
	if err != nil {
		return nil, nil, err
	}
	// AssemblyScript resolves a package import "@fusionize/task" in the
	// node_modules folders above the importing file and in each --path
	// folder, as <folder>/@fusionize/task/index.ts. A task need not have
	// node_modules of its own: a temporary folder links the package name to
	// the SDK.
	paths, err := os.MkdirTemp("", "fusionize-asc-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { _ = os.RemoveAll(paths) }
	if err := os.Mkdir(filepath.Join(paths, "@fusionize"), 0o755); err != nil {
		cleanup()
		return nil, nil, err
	}
	if err := os.Symlink(b.asSDK, filepath.Join(paths, "@fusionize", "task")); err != nil {
		cleanup()
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, asc, entry,
		"--config", filepath.Join(b.asSDK, "asconfig.json"),
		"--path", paths,
		"--noColors",
		"-o", out)
	return cmd, cleanup, nil
}
