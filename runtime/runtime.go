// Package runtime builds a host for one fusion group, the part every way of
// running a host shares: from a setup, the endpoints of the setup's groups
// and the group's modules (on disk or fetched), it creates the host, loads
// the modules, and routes calls to other groups by their endpoints through a
// transport. How a host is started and fed requests is a runtime of its own:
//
//	runtime/process  a local process: control plane, gRPC + REST, heartbeat,
//	                 drain, ready file (what the local adapter starts)
//	runtime/lambda   (to come) the Lambda Runtime API loop inside an
//	                 execution environment
//	runtime/gcf      (to come) an HTTP function for functions-framework-go
//
// A module-fused group (setup.Group.ModuleFused) loads one fused module for
// its Go tasks that are not isolated, which its Modules give (FusedModules:
// an artifact lists it, the control plane stores it under
// api.FusedModuleName; ModulesOf and PickFused choose it), and the module of
// each of its other tasks.
//
// Each calls NewHost and then serves the host its own way:
//
//	mux := transport.NewMux()
//	mux.Register(api.KindGRPC, grpcTransport)
//	h, err := runtime.NewHost(ctx, runtime.GroupConfig{
//		App: "iot", Setup: su, Group: "I",
//		Endpoints: host.StaticEndpoints(eps), // or one that asks the control plane
//		Modules:   runtime.Dir("/var/task/modules"),
//		Transport: mux,
//	})
//
// A runtime links neither the control plane's server and store, nor the
// optimizer, analytics, cost model or any emulator; runtime/process has a
// test that says so.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/tracing"
)

// Modules gives the Wasm module of a task and its digest ("sha256:<hex>",
// or "" for none to check).
type Modules interface {
	Module(ctx context.Context, task string) (wasm []byte, digest string, err error)
}

// ModulesFunc adapts a function to Modules.
type ModulesFunc func(ctx context.Context, task string) ([]byte, string, error)

// Module calls f.
func (f ModulesFunc) Module(ctx context.Context, task string) ([]byte, string, error) {
	return f(ctx, task)
}

// Dir is a directory holding each task's module as <task>.wasm, as a
// deployment package unpacks it.
type Dir string

// Module reads <d>/<task>.wasm.
func (d Dir) Module(_ context.Context, task string) ([]byte, string, error) {
	wasm, err := os.ReadFile(filepath.Join(string(d), task+".wasm"))
	if err != nil {
		return nil, "", fmt.Errorf("runtime: module of task %q: %w", task, err)
	}
	return wasm, "", nil
}

// GroupConfig is what a host for one group of one setup version is built
// from.
type GroupConfig struct {
	App   string
	Setup *setup.Setup // the setup version the host routes by
	Group string       // the group of Setup the host serves
	// Endpoints are the routes to the setup's other groups.
	Endpoints host.Endpoints
	// Modules gives the group's modules.
	Modules Modules
	// Transport carries calls to other groups (a host/transport.Mux);
	// nil: the host calls only its own group.
	Transport host.Transport
	// Host tunes the host; Group, App, MemoryMB, Transport and Endpoints are
	// set by NewHost, and Name defaults to Name(group, version).
	Host host.Config
}

// Name returns the host name of a group's host: "<group>@v<version>".
func Name(group string, version int64) string { return fmt.Sprintf("%s@v%d", group, version) }

// NewHost builds the host of cfg.Group: it creates the host, loads the
// group's modules (as many at once as there are cores) and routes by
// cfg.Setup. A module-fused group (setup.Group.ModuleFused) loads one fused
// module for its Go tasks that are not isolated, which cfg.Modules must
// give (FusedModules), and one module for each of its other tasks. Close
// the host when done.
func NewHost(ctx context.Context, cfg GroupConfig) (*host.Host, error) {
	if cfg.Setup == nil {
		return nil, errors.New("runtime: GroupConfig.Setup is required")
	}
	if cfg.Modules == nil {
		return nil, errors.New("runtime: GroupConfig.Modules is required")
	}
	g, ok := cfg.Setup.Group(cfg.Group)
	if !ok {
		return nil, fmt.Errorf("runtime: setup version %d has no group %q", cfg.Setup.Version, cfg.Group)
	}
	hc := cfg.Host
	if hc.Name == "" {
		hc.Name = Name(g.Name, cfg.Setup.Version)
	}
	hc.Group, hc.App, hc.MemoryMB = g.Name, cfg.App, g.MemoryMB
	hc.Transport, hc.Endpoints = cfg.Transport, cfg.Endpoints
	if hc.Tracer == nil {
		// OpenTelemetry spans over OTLP when the OTEL_* environment names
		// an endpoint; none (and no cost) otherwise.
		tr, err := tracing.FromEnv(ctx, tracing.Options{App: cfg.App, Group: g.Name, Host: hc.Name, Setup: cfg.Setup})
		if err != nil {
			return nil, fmt.Errorf("runtime: tracing: %w", err)
		}
		if tr != nil {
			hc.Tracer = tr
		}
	}
	h, err := host.New(ctx, hc)
	if err != nil {
		if sd, ok := hc.Tracer.(*tracing.Tracer); ok {
			_ = sd.Shutdown(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	if err := loadGroup(ctx, h, cfg.Modules, *g); err != nil {
		return nil, errors.Join(err, h.Close(context.WithoutCancel(ctx)))
	}
	if err := h.SetSetup(cfg.Setup); err != nil {
		return nil, errors.Join(err, h.Close(context.WithoutCancel(ctx)))
	}
	return h, nil
}

// loadGroup loads the modules of g into h: for a module-fused group its
// fused module (FusedModules) and the modules of its other tasks; for any
// other group one module per task.
func loadGroup(ctx context.Context, h *host.Host, mods Modules, g setup.Group) error {
	fused, wasm, digest, rest, err := groupUnits(ctx, g, mods)
	if err != nil {
		return err
	}
	if len(fused) == 0 {
		return load(ctx, h, mods, rest)
	}
	// The fused module loads beside the others, as one of the loads.
	done := make(chan error, 1)
	go func() { done <- h.LoadFused(ctx, fused, wasm, digest) }()
	return errors.Join(load(ctx, h, mods, rest), <-done)
}

// load loads the modules of tasks into h, as many at once as there are
// cores, and reports every module that failed.
func load(ctx context.Context, h *host.Host, mods Modules, tasks []string) error {
	var (
		mu   sync.Mutex // the loads append concurrently
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, goruntime.GOMAXPROCS(0))
	for _, t := range tasks {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			wasm, digest, err := mods.Module(ctx, t)
			if err == nil {
				err = h.Load(ctx, t, wasm, digest)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
