package aws

import (
	"context"
	"fmt"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	controlplane "github.com/fusionize/fusionize/controlplane/client"
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

// Modules fetches the current module of each task, verified by digest.
func (s *source) Modules(ctx context.Context, tasks []string) ([]lambdart.Module, error) {
	infos, err := s.cp.Modules(ctx)
	if err != nil {
		return nil, err
	}
	digests := map[string]string{}
	for _, m := range infos {
		digests[m.Task] = m.Digest
	}
	var mods []lambdart.Module
	for _, t := range tasks {
		d, ok := digests[t]
		if !ok {
			return nil, fmt.Errorf("%w: no module uploaded for task %q", ErrModule, t)
		}
		wasm, err := s.cp.FetchModule(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("module of task %q: %w", t, err)
		}
		mods = append(mods, lambdart.Module{Task: t, Digest: d, Wasm: wasm})
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
