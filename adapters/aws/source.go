package aws

import (
	"context"
	"fmt"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	controlplane "github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/runtime"
	lambdart "github.com/fusionize/fusionize/runtime/lambda"
)

// source is where a deployment's setup and modules come from: the control
// plane the deployment names.
type source struct {
	cp *controlplane.Client
}

func (a *Adapter) source(ctx context.Context, d adapters.Deployment) (*source, error) {
	cp, err := controlplane.Dial(ctx, d.ControlPlane, d.Token)
	if err != nil {
		return nil, fmt.Errorf("control plane %s: %w", d.ControlPlane, err)
	}
	return &source{cp: cp}, nil
}

func (s *source) Close() error { return s.cp.Close() }

func (s *source) Setup(ctx context.Context, version int64) (*setup.Setup, error) {
	return s.cp.Setup(ctx, version)
}

// Modules fetches the modules the host of g loads (runtime.ModulesOf: for a
// module-fused group its fused module and the modules of its other tasks),
// verified by digest.
func (s *source) Modules(ctx context.Context, g setup.Group) ([]lambdart.Module, error) {
	infos, err := s.cp.Modules(ctx)
	if err != nil {
		return nil, err
	}
	want, err := runtime.ModulesOf(infos, g)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModule, err)
	}
	var mods []lambdart.Module
	for _, m := range want {
		wasm, err := s.cp.FetchModule(ctx, m.Digest)
		if err != nil {
			return nil, fmt.Errorf("module %q: %w", m.Task, err)
		}
		mods = append(mods, lambdart.Module{Task: m.Task, Tasks: m.Tasks, Digest: m.Digest, Wasm: wasm})
	}
	return mods, nil
}

// apiEndpoint is where d's group is invoked.
func (a *Adapter) apiEndpoint(d adapters.Deployment) api.Endpoint {
	return api.Endpoint{Kind: api.KindLambda, FunctionName: FunctionName(d.App, d.Group.Name), Qualifier: AliasName(d.Version), Region: a.region(d), APIEndpoint: a.opts.Endpoint}
}

func (a *Adapter) endpoint(d adapters.Deployment) adapters.Endpoint {
	return adapters.Endpoint{Group: d.Group.Name, Version: d.Version, Provider: Provider, Endpoint: a.apiEndpoint(d)}
}
