package host

import (
	"context"
	"log/slog"
	"time"
)

// CheckOptions tune CheckModule. The zero value compiles in memory and
// discards what the module logs while it initializes.
type CheckOptions struct {
	// CacheDir is wazero's compilation cache, as Config.CacheDir: a host
	// that shares it later finds the module compiled.
	CacheDir string
	// InitTimeout bounds the module's _initialize, as Config.InitTimeout.
	InitTimeout time.Duration
	// Logger receives what the module writes while it initializes.
	Logger *slog.Logger
}

// CheckModule reports whether wasm would load as task name on a host: it
// runs exactly what Load runs, on a host of its own that it closes again:
// the bounds check of the binary, wazero's compilation and validation, the
// ABI's exports and imports, one instantiation (with _initialize, under
// InitTimeout) and the ABI version. The error names the task and the
// reason; errors.Is matches ErrBadModule, ErrABIVersion, ErrDeadline, ….
// The control plane calls it on every upload, so a module no host could
// load is refused before any host starts.
func CheckModule(ctx context.Context, name string, wasm []byte, opts CheckOptions) error {
	return check(ctx, opts, func(h *Host) error { return h.Load(ctx, name, wasm, "") })
}

// CheckFusedModule is CheckModule for a fused module (guest ABI version 2)
// that claims to hold tasks: it runs what LoadFused runs, so the module
// must speak ABI version 2 and hold exactly tasks, each once. A task it
// claims but does not hold is an ErrMissingTask naming that task; a task
// it holds unclaimed, or holds twice, an ErrBadModule naming it.
func CheckFusedModule(ctx context.Context, tasks []string, wasm []byte, opts CheckOptions) error {
	return check(ctx, opts, func(h *Host) error { return h.LoadFused(ctx, tasks, wasm, "") })
}

func check(ctx context.Context, opts CheckOptions, load func(*Host) error) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h, err := New(ctx, Config{Name: "check", CacheDir: opts.CacheDir, InitTimeout: opts.InitTimeout, PoolSize: 1, Logger: logger})
	if err != nil {
		return err
	}
	loadErr := load(h)
	if err := h.Close(context.WithoutCancel(ctx)); err != nil && loadErr == nil {
		return err
	}
	return loadErr
}
