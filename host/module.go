package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The guest ABI versions this host speaks (guest-sdk/ABI.md): 1 for a
// module of one task, 2 for a fused module of several.
const (
	ABIVersion      = 1
	ABIVersionFused = 2
)

// Export and import names of the guest ABI.
const (
	exportABIVersion = "fusionize_abi_version"
	exportAlloc      = "fusionize_alloc"
	exportHandle     = "fusionize_handle"
	exportTasks      = "fusionize_tasks"
	exportHandleTask = "fusionize_handle_task"
	exportInitialize = "_initialize"
	exportStart      = "_start"
	exportMemory     = "memory"

	importModule = "fusionize"
	wasiModule   = "wasi_snapshot_preview1"
)

type signature struct{ params, results []api.ValueType }

func (s signature) String() string {
	return fmt.Sprintf("(%s) -> (%s)", typeList(s.params), typeList(s.results))
}

func typeList(ts []api.ValueType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = api.ValueTypeName(t)
	}
	return strings.Join(names, ", ")
}

var (
	i32 = api.ValueTypeI32

	requiredExports = map[string]signature{
		exportABIVersion: {nil, []api.ValueType{i32}},
		exportAlloc:      {[]api.ValueType{i32}, []api.ValueType{i32}},
		exportHandle:     {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	}
	// fusedExports are required of a module that speaks version 2.
	fusedExports = map[string]signature{
		exportTasks:      {nil, nil},
		exportHandleTask: {[]api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
	}
)

// Digest returns the content digest of a module, "sha256:<hex>".
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// compile checks the digest, compiles the module and validates its shape
// against the ABI; it returns the module's digest with it. source names the
// module (a file path or "bytes") in errors.
func (h *Host) compile(ctx context.Context, source string, wasm []byte, digest string) (wazero.CompiledModule, string, error) {
	got := Digest(wasm)
	if digest != "" && got != digest {
		return nil, "", fmt.Errorf("%s: %w: want %s, got %s", source, ErrDigest, digest, got)
	}
	if err := precheck(wasm); err != nil {
		return nil, "", fmt.Errorf("%s: %w: %v", source, ErrBadModule, err)
	}
	cm, err := h.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w: %v", source, ErrBadModule, err)
	}
	if err := validate(cm); err != nil {
		_ = cm.Close(ctx)
		return nil, "", fmt.Errorf("%s: %w", source, err)
	}
	return cm, got, nil
}

// checkExports checks that exports has each of want with its signature.
func checkExports(exports map[string]api.FunctionDefinition, want map[string]signature) error {
	for name, sig := range want {
		def, ok := exports[name]
		if !ok {
			return fmt.Errorf("%w: missing export %s%s", ErrBadModule, name, sig)
		}
		got := signature{def.ParamTypes(), def.ResultTypes()}
		if got.String() != sig.String() {
			return fmt.Errorf("%w: export %s has type %s, want %s", ErrBadModule, name, got, sig)
		}
	}
	return nil
}

func validate(cm wazero.CompiledModule) error {
	exports := cm.ExportedFunctions()
	if _, ok := exports[exportStart]; ok {
		return fmt.Errorf("%w: exports %s: it is a command module, not a reactor (build Go tasks with -buildmode=c-shared)", ErrBadModule, exportStart)
	}
	if err := checkExports(exports, requiredExports); err != nil {
		return err
	}
	if def, ok := exports[exportInitialize]; ok && (len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0) {
		return fmt.Errorf("%w: export %s must have type () -> ()", ErrBadModule, exportInitialize)
	}
	if _, ok := cm.ExportedMemories()[exportMemory]; !ok {
		return fmt.Errorf("%w: missing exported memory %q", ErrBadModule, exportMemory)
	}
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		switch mod {
		case wasiModule:
		case importModule:
			want, ok := hostFuncs[name]
			if !ok {
				return fmt.Errorf("%w: imports unknown function %s.%s", ErrBadModule, mod, name)
			}
			got := signature{def.ParamTypes(), def.ResultTypes()}
			if got.String() != want.String() {
				return fmt.Errorf("%w: import %s.%s has type %s, want %s", ErrBadModule, mod, name, got, want)
			}
		default:
			return fmt.Errorf("%w: imports %s.%s from unknown module %q (only %q and %q are provided)", ErrBadModule, mod, name, mod, importModule, wasiModule)
		}
	}
	for _, def := range cm.ImportedMemories() {
		mod, name, _ := def.Import()
		return fmt.Errorf("%w: imports memory %s.%s; a task must define and export its own memory", ErrBadModule, mod, name)
	}
	return nil
}
