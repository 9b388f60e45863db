package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/internal/otlpenv"
	lambdart "github.com/fusionize/fusionize/runtime/lambda"
)

// Tags every function the adapter creates carries.
const (
	TagManaged = "fusionize"
	TagApp     = "fusionize:app"
	TagGroup   = "fusionize:group"
)

// Memory sizes Lambda accepts, in MB.
const (
	MinMemoryMB = 128
	MaxMemoryMB = 10240
)

// Deploy implements adapters.Adapter.
func (a *Adapter) Deploy(ctx context.Context, d adapters.Deployment) (adapters.Endpoint, error) {
	if a.isClosed() {
		return adapters.Endpoint{}, fmt.Errorf("aws: deploy %s: %w", d.ID(), adapters.ErrClosed)
	}
	if err := a.check(d); err != nil {
		return adapters.Endpoint{}, err
	}
	name := FunctionName(d.App, d.Group.Name)
	alias := AliasName(d.Version)
	if _, err := a.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: &name, Name: &alias}); err == nil {
		return adapters.Endpoint{}, fmt.Errorf("aws: deploy %s: %w (function %s, alias %s)", d.ID(), adapters.ErrExists, name, alias)
	} else if !isNotFound(err) {
		return adapters.Endpoint{}, fmt.Errorf("aws: deploy %s: %w", d.ID(), err)
	}
	pkg, err := a.buildPackage(ctx, d)
	if errors.Is(err, ErrModule) {
		// The group could never start: as unhealthy as a host that fails
		// its first request, and found before anything is created.
		return adapters.Endpoint{}, fmt.Errorf("aws: deploy %s: %w: %w", d.ID(), adapters.ErrUnhealthy, err)
	}
	if err != nil {
		return adapters.Endpoint{}, fmt.Errorf("aws: deploy %s: %w", d.ID(), err)
	}
	version, err := a.publish(ctx, d, name, pkg)
	if err != nil {
		return adapters.Endpoint{}, fmt.Errorf("aws: deploy %s: %w", d.ID(), err)
	}
	if _, err := a.client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: &name, Name: &alias, FunctionVersion: &version}); err != nil {
		a.dropVersion(ctx, name, version)
		return adapters.Endpoint{}, fmt.Errorf("aws: deploy %s: create alias %s: %w", d.ID(), alias, err)
	}
	ep := a.endpoint(d)
	if _, err := a.transport.Ping(ctx, ep.Endpoint); err != nil {
		a.remove(ctx, name, alias)
		return adapters.Endpoint{}, fmt.Errorf("aws: deploy %s: %w: the first invocation of %s:%s failed: %v", d.ID(), adapters.ErrUnhealthy, name, alias, err)
	}
	a.mu.Lock()
	a.deployed[d.ID()] = deployment{app: d.App, group: d.Group.Name, version: d.Version}
	a.mu.Unlock()
	a.opts.Logger.Info("deployed", "group", d.Group.Name, "setup", d.Version, "function", name, "version", version, "package_bytes", len(pkg))
	return ep, nil
}

func (a *Adapter) check(d adapters.Deployment) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("aws: %w", err)
	}
	if d.Group.Place.Provider != Provider {
		return fmt.Errorf("aws: group %q: %w: place %s is not on aws", d.Group.Name, adapters.ErrInvalid, d.Group.Place)
	}
	if m := d.Group.MemoryMB; m != 0 && (m < MinMemoryMB || m > MaxMemoryMB) {
		return fmt.Errorf("aws: group %q: %w: memory %d MB outside Lambda's %d..%d MB", d.Group.Name, adapters.ErrInvalid, m, MinMemoryMB, MaxMemoryMB)
	}
	if _, err := goArch(a.arch(d)); err != nil {
		return fmt.Errorf("aws: group %q: %w: %v", d.Group.Name, adapters.ErrInvalid, err)
	}
	return nil
}

func (a *Adapter) arch(d adapters.Deployment) string {
	if d.Group.Place.Arch != "" {
		return d.Group.Place.Arch
	}
	return a.opts.Arch
}

func (a *Adapter) region(d adapters.Deployment) string {
	if d.Group.Place.Region != "" {
		return d.Group.Place.Region
	}
	return a.opts.Region
}

func memoryOf(d adapters.Deployment) int32 {
	if d.Group.MemoryMB == 0 {
		return MinMemoryMB
	}
	return int32(d.Group.MemoryMB)
}

// buildPackage gathers the group's setup and modules from the control plane
// and builds its deployment package.
func (a *Adapter) buildPackage(ctx context.Context, d adapters.Deployment) ([]byte, error) {
	src, err := a.source(ctx, d)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	su, err := src.Setup(ctx, d.Version)
	if err != nil {
		return nil, fmt.Errorf("setup version %d: %w", d.Version, err)
	}
	mods, err := src.Modules(ctx, d.Group)
	if err != nil {
		return nil, err
	}
	cfg := lambdart.Config{App: d.App, SetupVersion: d.Version, Group: d.Group.Name, MemoryMB: int(memoryOf(d)), Setup: su, Endpoints: api.Endpoints{}}
	for _, g := range su.Groups {
		if g.Place.Provider == Provider {
			gd := d
			gd.Group = g
			cfg.Endpoints[g.Name] = a.apiEndpoint(gd)
		}
	}
	pkg, info, err := a.pack.Build(ctx, a.arch(d), cfg, mods)
	if err != nil {
		return nil, err
	}
	a.opts.Logger.Debug("deployment package", "group", d.Group.Name, "sha256", info.SHA256, "bytes", info.Size)
	return pkg, nil
}

// publish creates the function or updates its code and configuration, waits
// until Lambda has applied them, and publishes a version of them.
func (a *Adapter) publish(ctx context.Context, d adapters.Deployment, name string, pkg []byte) (string, error) {
	arch := types.Architecture(a.arch(d))
	env := &types.Environment{Variables: a.environment(d)}
	mem, timeout := memoryOf(d), int32(a.opts.Timeout)
	_, err := a.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &name})
	switch {
	case isNotFound(err):
		_, err = a.client.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName:  &name,
			Role:          &a.opts.Role,
			Runtime:       types.RuntimeProvidedal2023,
			Handler:       aws.String("bootstrap"),
			Architectures: []types.Architecture{arch},
			MemorySize:    &mem,
			Timeout:       &timeout,
			Environment:   env,
			Code:          &types.FunctionCode{ZipFile: pkg},
			Description:   aws.String(fmt.Sprintf("Fusionize group %s of app %s", d.Group.Name, d.App)),
			Tags:          map[string]string{TagManaged: "1", TagApp: d.App, TagGroup: d.Group.Name},
		})
		if err != nil {
			return "", fmt.Errorf("create function %s: %w", name, err)
		}
		if err := lambda.NewFunctionActiveV2Waiter(a.client).Wait(ctx, &lambda.GetFunctionInput{FunctionName: &name}, a.opts.WaitTimeout); err != nil {
			return "", fmt.Errorf("function %s never became active: %w", name, err)
		}
	case err != nil:
		return "", fmt.Errorf("get function %s: %w", name, err)
	default:
		if _, err := a.client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: &name, ZipFile: pkg, Architectures: []types.Architecture{arch}}); err != nil {
			return "", fmt.Errorf("update code of %s: %w", name, err)
		}
		if err := a.waitUpdated(ctx, name); err != nil {
			return "", err
		}
		if _, err := a.client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: &name, MemorySize: &mem, Timeout: &timeout, Environment: env}); err != nil {
			return "", fmt.Errorf("update configuration of %s: %w", name, err)
		}
		if err := a.waitUpdated(ctx, name); err != nil {
			return "", err
		}
	}
	out, err := a.client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: &name, Description: aws.String(adapters.ID(d.Group.Name, d.Version))})
	if err != nil {
		return "", fmt.Errorf("publish a version of %s: %w", name, err)
	}
	return aws.ToString(out.Version), nil
}

func (a *Adapter) waitUpdated(ctx context.Context, name string) error {
	if err := lambda.NewFunctionUpdatedV2Waiter(a.client).Wait(ctx, &lambda.GetFunctionInput{FunctionName: &name}, a.opts.WaitTimeout); err != nil {
		return fmt.Errorf("update of function %s never finished: %w", name, err)
	}
	return nil
}

// environment is what the runtime reads besides its package.
func (a *Adapter) environment(d adapters.Deployment) map[string]string {
	env := map[string]string{"FUSIONIZE_APP": d.App, "FUSIONIZE_SETUP_VERSION": strconv.FormatInt(d.Version, 10)}
	cp := d.ControlPlane
	if a.opts.ControlPlane != "" {
		cp = a.opts.ControlPlane
	}
	if cp != "" {
		env[lambdart.EnvControlPlane] = cp
		env[lambdart.EnvToken] = d.Token
	}
	if d.InvokeToken != "" {
		env[lambdart.EnvInvokeToken] = d.InvokeToken
	}
	// The OTEL_* variables of the deployer's environment, so the
	// function exports its spans where the local hosts do.
	for _, kv := range otlpenv.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if a.opts.Queue != "" {
		env[lambdart.EnvQueue] = a.opts.Queue
	}
	return env
}

// Remove implements adapters.Adapter: it deletes the alias of the setup
// version and the function version it pointed at, and the function once no
// alias is left.
func (a *Adapter) Remove(ctx context.Context, group string, version int64) error {
	id := adapters.ID(group, version)
	alias := AliasName(version)
	a.mu.Lock()
	dep, known := a.deployed[id]
	a.mu.Unlock()
	var name string
	if known {
		name = FunctionName(dep.app, group)
	} else {
		// Deployed by another run: find the function by its tags.
		fns, err := a.functions(ctx, "")
		if err != nil {
			return fmt.Errorf("aws: remove %s: %w", id, err)
		}
		for _, f := range fns {
			if f.group == group && slices.Contains(f.aliases, alias) {
				name = f.name
				break
			}
		}
		if name == "" {
			return fmt.Errorf("aws: remove %s: %w", id, adapters.ErrNotFound)
		}
	}
	if a.opts.Drain > 0 {
		t := time.NewTimer(a.opts.Drain)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	if err := a.remove(ctx, name, alias); err != nil {
		if errors.Is(err, adapters.ErrNotFound) {
			err = fmt.Errorf("%w (function %s, alias %s)", err, name, alias)
		}
		return fmt.Errorf("aws: remove %s: %w", id, err)
	}
	a.mu.Lock()
	delete(a.deployed, id)
	a.mu.Unlock()
	return nil
}

// remove deletes alias of function name, the version behind it, and the
// function when it has no alias left.
func (a *Adapter) remove(ctx context.Context, name, alias string) error {
	al, err := a.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: &name, Name: &alias})
	if isNotFound(err) {
		return adapters.ErrNotFound
	}
	if err != nil {
		return err
	}
	if _, err := a.client.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: &name, Name: &alias}); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete alias %s of %s: %w", alias, name, err)
	}
	a.dropVersion(ctx, name, aws.ToString(al.FunctionVersion))
	left, err := a.client.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: &name})
	if err != nil {
		return fmt.Errorf("list aliases of %s: %w", name, err)
	}
	if len(left.Aliases) == 0 {
		if _, err := a.client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: &name}); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete function %s: %w", name, err)
		}
	}
	return nil
}

// dropVersion deletes one published version, unless another alias still
// points at it (Lambda refuses that with a conflict, which is fine).
func (a *Adapter) dropVersion(ctx context.Context, name, version string) {
	if version == "" || version == "$LATEST" {
		return
	}
	_, err := a.client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: &name, Qualifier: &version})
	if err != nil && !isNotFound(err) && !isConflict(err) {
		a.opts.Logger.Warn("delete function version", "function", name, "version", version, "err", err)
	}
}

// deployed is one Fusionize function and its setup-version aliases.
type deployed struct {
	name, app, group string
	aliases          []string
}

// functions lists the functions the adapter manages (of app, or all).
func (a *Adapter) functions(ctx context.Context, app string) ([]deployed, error) {
	var out []deployed
	p := lambda.NewListFunctionsPaginator(a.client, &lambda.ListFunctionsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list functions: %w", err)
		}
		for _, f := range page.Functions {
			tags, err := a.client.ListTags(ctx, &lambda.ListTagsInput{Resource: f.FunctionArn})
			if isNotFound(err) {
				continue // deleted since the listing
			}
			if err != nil {
				return nil, fmt.Errorf("tags of %s: %w", aws.ToString(f.FunctionName), err)
			}
			if tags.Tags[TagManaged] == "" || (app != "" && tags.Tags[TagApp] != app) {
				continue
			}
			dep := deployed{name: aws.ToString(f.FunctionName), app: tags.Tags[TagApp], group: tags.Tags[TagGroup]}
			ap := lambda.NewListAliasesPaginator(a.client, &lambda.ListAliasesInput{FunctionName: f.FunctionName})
			for ap.HasMorePages() {
				apage, err := ap.NextPage(ctx)
				if isNotFound(err) {
					break // deleted since the listing
				}
				if err != nil {
					return nil, fmt.Errorf("aliases of %s: %w", dep.name, err)
				}
				for _, al := range apage.Aliases {
					dep.aliases = append(dep.aliases, aws.ToString(al.Name))
				}
			}
			out = append(out, dep)
		}
	}
	return out, nil
}

// List implements adapters.Adapter.
func (a *Adapter) List(ctx context.Context) ([]adapters.Endpoint, error) {
	fns, err := a.functions(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	var eps []adapters.Endpoint
	for _, f := range fns {
		for _, al := range f.aliases {
			v, ok := versionOfAlias(al)
			if !ok {
				continue
			}
			d := adapters.Deployment{App: f.app, Version: v}
			d.Group.Name = f.group
			eps = append(eps, a.endpoint(d))
		}
	}
	return eps, nil
}

// Close implements adapters.Adapter: it removes every group this adapter
// deployed (functions others deployed stay) and refuses further deploys.
func (a *Adapter) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return adapters.ErrClosed
	}
	a.closed = true
	left := make([]deployment, 0, len(a.deployed))
	for _, d := range a.deployed {
		left = append(left, d)
	}
	a.mu.Unlock()
	errs := make([]error, len(left))
	var wg sync.WaitGroup
	for i, d := range left {
		wg.Go(func() {
			if err := a.Remove(ctx, d.group, d.version); err != nil && !errors.Is(err, adapters.ErrNotFound) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (a *Adapter) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}
