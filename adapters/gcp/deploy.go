package gcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	controlplane "github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/internal/otlpenv"
	"github.com/fusionize/fusionize/runtime"
	"github.com/fusionize/fusionize/runtime/gcf"
)

// Memory sizes Cloud Functions (2nd gen) accepts, in MB.
const (
	MinMemoryMB = 128
	MaxMemoryMB = 32768
)

// Environment variables the adapter sets on every function, besides
// runtime/gcf's own.
const (
	EnvApp          = "FUSIONIZE_APP"
	EnvGroup        = "FUSIONIZE_GROUP"
	EnvSetupVersion = "FUSIONIZE_SETUP_VERSION"
)

// Deploy implements adapters.Adapter.
func (a *Adapter) Deploy(ctx context.Context, d adapters.Deployment) (adapters.Endpoint, error) {
	if err := a.check(d); err != nil {
		return adapters.Endpoint{}, err
	}
	start := time.Now()
	parent := a.parent(d)
	id := FunctionName(d.App, d.Group.Name, d.Version)
	name := parent + "/functions/" + id
	if _, err := a.client.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: name}); err == nil {
		return adapters.Endpoint{}, fmt.Errorf("gcp: deploy %s: %w (function %s)", d.ID(), adapters.ErrExists, name)
	} else if status.Code(err) != codes.NotFound {
		return adapters.Endpoint{}, fmt.Errorf("gcp: deploy %s: get function %s: %w", d.ID(), name, err)
	}
	src, err := a.buildSource(ctx, d)
	if errors.Is(err, ErrModule) {
		// The group could never start: as unhealthy as a function that
		// fails its first request, and found before anything is created.
		return adapters.Endpoint{}, fmt.Errorf("gcp: deploy %s: %w: %w", d.ID(), adapters.ErrUnhealthy, err)
	}
	if err != nil {
		return adapters.Endpoint{}, fmt.Errorf("gcp: deploy %s: %w", d.ID(), err)
	}
	storage, err := a.upload(ctx, parent, src)
	if err != nil {
		return adapters.Endpoint{}, fmt.Errorf("gcp: deploy %s: %w", d.ID(), err)
	}
	fn, err := a.create(ctx, d, parent, id, storage)
	if err != nil {
		a.deleteQuietly(name)
		return adapters.Endpoint{}, fmt.Errorf("gcp: deploy %s: %w: function %s: %v", d.ID(), adapters.ErrUnhealthy, name, err)
	}
	url := fn.GetUrl()
	if url == "" {
		url = fn.GetServiceConfig().GetUri()
	}
	if _, err := a.transport.Ping(ctx, url); err != nil {
		a.deleteQuietly(name)
		return adapters.Endpoint{}, fmt.Errorf("gcp: deploy %s: %w: the first request to %s failed: %v", d.ID(), adapters.ErrUnhealthy, url, err)
	}
	ep := endpoint(d.Group.Name, d.Version, url)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		a.deleteQuietly(name)
		return adapters.Endpoint{}, fmt.Errorf("gcp: deploy %s: %w", d.ID(), adapters.ErrClosed)
	}
	a.deployed[name] = ep
	a.mu.Unlock()
	a.opts.Logger.Info("deployed", "group", d.Group.Name, "setup", d.Version, "function", name, "url", url, "source_bytes", len(src), "took", time.Since(start))
	return ep, nil
}

func endpoint(group string, version int64, url string) adapters.Endpoint {
	return adapters.Endpoint{Group: group, Version: version, Provider: Provider, Endpoint: api.Endpoint{Kind: api.KindHTTPS, URL: url}}
}

func (a *Adapter) check(d adapters.Deployment) error {
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return fmt.Errorf("gcp: deploy %s: %w", d.ID(), adapters.ErrClosed)
	}
	if err := d.Validate(); err != nil {
		return fmt.Errorf("gcp: %w", err)
	}
	if d.Group.Place.Provider != Provider {
		return fmt.Errorf("gcp: group %q: %w: place %s is not on gcp", d.Group.Name, adapters.ErrInvalid, d.Group.Place)
	}
	if m := d.Group.MemoryMB; m != 0 && (m < MinMemoryMB || m > MaxMemoryMB) {
		return fmt.Errorf("gcp: group %q: %w: memory %d MB outside Cloud Functions' %d..%d MB", d.Group.Name, adapters.ErrInvalid, m, MinMemoryMB, MaxMemoryMB)
	}
	return nil
}

func (a *Adapter) parent(d adapters.Deployment) string {
	return "projects/" + a.opts.Project + "/locations/" + a.region(d)
}

// region is the region d's function is deployed in.
func (a *Adapter) region(d adapters.Deployment) string {
	if d.Group.Place.Region != "" {
		return d.Group.Place.Region
	}
	return a.opts.Region
}

func memoryOf(d adapters.Deployment) int {
	if d.Group.MemoryMB == 0 {
		return 256
	}
	return d.Group.MemoryMB
}

// buildSource gathers the group's setup and modules from the control plane
// and builds its function source.
func (a *Adapter) buildSource(ctx context.Context, d adapters.Deployment) ([]byte, error) {
	cp, err := controlplane.Dial(ctx, d.ControlPlane, d.Token)
	if err != nil {
		return nil, fmt.Errorf("control plane %s: %w", d.ControlPlane, err)
	}
	defer cp.Close()
	su, err := cp.Setup(ctx, d.Version)
	if err != nil {
		return nil, fmt.Errorf("setup version %d: %w", d.Version, err)
	}
	mods, err := modules(ctx, cp, d.Group)
	if err != nil {
		return nil, err
	}
	cfg := gcf.Config{App: d.App, SetupVersion: d.Version, Group: d.Group.Name, MemoryMB: memoryOf(d), Setup: su}
	src, info, err := a.pack.Build(ctx, cfg, mods)
	if err != nil {
		return nil, err
	}
	a.opts.Logger.Debug("function source", "group", d.Group.Name, "sha256", info.SHA256, "bytes", info.Size, "files", info.Files)
	return src, nil
}

// modules fetches the modules the host of g loads (runtime.ModulesOf: for a
// module-fused group its fused module and the modules of its other tasks),
// verified by digest.
func modules(ctx context.Context, cp *controlplane.Client, g setup.Group) ([]gcf.Module, error) {
	infos, err := cp.Modules(ctx)
	if err != nil {
		return nil, err
	}
	want, err := runtime.ModulesOf(infos, g)
	if err != nil {
		return nil, err
	}
	var mods []gcf.Module
	for _, m := range want {
		wasm, err := cp.FetchModule(ctx, m.Digest)
		if err != nil {
			return nil, fmt.Errorf("module %q: %w", m.Task, err)
		}
		mods = append(mods, gcf.Module{Task: m.Task, Tasks: m.Tasks, Digest: m.Digest, Wasm: wasm})
	}
	return mods, nil
}

// upload puts src at a fresh upload URL of parent and returns where it is.
func (a *Adapter) upload(ctx context.Context, parent string, src []byte) (*functionspb.StorageSource, error) {
	up, err := a.client.GenerateUploadUrl(ctx, &functionspb.GenerateUploadUrlRequest{Parent: parent})
	if err != nil {
		return nil, fmt.Errorf("generate upload URL in %s: %w", parent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, up.GetUploadUrl(), bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("upload URL %q: %w", up.GetUploadUrl(), err)
	}
	req.Header.Set("Content-Type", "application/zip")
	resp, err := a.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upload source: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("upload source of %d bytes: %s: %s", len(src), resp.Status, bytes.TrimSpace(body))
	}
	return up.GetStorageSource(), nil
}

// create creates the function and polls the operation until it is done.
func (a *Adapter) create(ctx context.Context, d adapters.Deployment, parent, id string, storage *functionspb.StorageSource) (*functionspb.Function, error) {
	mem := memoryOf(d)
	fn := &functionspb.Function{
		Name:        parent + "/functions/" + id,
		Description: fmt.Sprintf("Fusionize group %s of app %s, setup version %d", d.Group.Name, d.App, d.Version),
		Environment: functionspb.Environment_GEN_2,
		BuildConfig: &functionspb.BuildConfig{
			Runtime:    gcf.Runtime,
			EntryPoint: gcf.EntryPoint,
			Source:     &functionspb.Source{Source: &functionspb.Source_StorageSource{StorageSource: storage}},
		},
		ServiceConfig: &functionspb.ServiceConfig{
			AvailableMemory:               strconv.Itoa(mem) + "Mi",
			AvailableCpu:                  strconv.FormatFloat(DefaultCPU(mem), 'f', -1, 64),
			TimeoutSeconds:                int32(a.opts.Timeout),
			MaxInstanceCount:              int32(a.opts.MaxInstances),
			MaxInstanceRequestConcurrency: 1,
			EnvironmentVariables:          a.environment(d),
			ServiceAccountEmail:           a.opts.ServiceAccount,
		},
		Labels: Labels(d.App, d.Group.Name, d.Version),
	}
	op, err := a.client.CreateFunction(ctx, &functionspb.CreateFunctionRequest{Parent: parent, Function: fn, FunctionId: id})
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	return poll(ctx, op, a.opts.PollInterval)
}

// poll polls op every interval until it is done.
func poll[T any, O interface {
	Poll(context.Context, ...gax.CallOption) (T, error)
	Done() bool
	Name() string
}](ctx context.Context, op O, interval time.Duration) (T, error) {
	for {
		res, err := op.Poll(ctx)
		if err != nil {
			return res, fmt.Errorf("operation %s: %w", op.Name(), err)
		}
		if op.Done() {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("operation %s: %w", op.Name(), ctx.Err())
		case <-time.After(interval):
		}
	}
}

// environment is what the runtime reads besides its source.
func (a *Adapter) environment(d adapters.Deployment) map[string]string {
	env := map[string]string{
		EnvApp: d.App, EnvGroup: d.Group.Name, EnvSetupVersion: strconv.FormatInt(d.Version, 10),
		// Cloud Run names no region in the environment: say where the
		// function runs, for the caller place its transports send.
		gcf.EnvPlace: Provider + "/" + a.region(d),
	}
	cp := d.ControlPlane
	if a.opts.ControlPlane != "" {
		cp = a.opts.ControlPlane
	}
	if cp != "" {
		env[gcf.EnvControlPlane] = cp
		env[gcf.EnvToken] = d.Token
	}
	if d.InvokeToken != "" {
		env[gcf.EnvInvokeToken] = d.InvokeToken
	}
	// The OTEL_* variables of the deployer's environment, so the
	// function exports its spans where the local hosts do.
	for _, kv := range otlpenv.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if a.opts.Queue != "" {
		env[gcf.EnvQueue] = a.opts.Queue
	}
	if a.opts.IDTokens != nil {
		env[gcf.EnvIDTokens] = "1"
	}
	return env
}

// delete deletes the function name and waits until it is gone.
func (a *Adapter) delete(ctx context.Context, name string) error {
	op, err := a.client.DeleteFunction(ctx, &functionspb.DeleteFunctionRequest{Name: name})
	if status.Code(err) == codes.NotFound {
		return adapters.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete function %s: %w", name, err)
	}
	for {
		err := op.Poll(ctx)
		if err != nil {
			return fmt.Errorf("delete function %s: operation %s: %w", name, op.Name(), err)
		}
		if op.Done() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delete function %s: %w", name, ctx.Err())
		case <-time.After(a.opts.PollInterval):
		}
	}
}

// deleteQuietly deletes what a failed deploy left, on its own deadline.
func (a *Adapter) deleteQuietly(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.delete(ctx, name); err != nil && !errors.Is(err, adapters.ErrNotFound) {
		a.opts.Logger.Warn("gcp: leftover of a failed deploy", "function", name, "err", err)
	}
}

// Remove implements adapters.Adapter: it deletes the setup version's
// function (Cloud Run lets running requests finish).
func (a *Adapter) Remove(ctx context.Context, group string, version int64) error {
	fns, err := a.functions(ctx)
	if err != nil {
		return fmt.Errorf("gcp: remove %s: %w", adapters.ID(group, version), err)
	}
	for _, f := range fns {
		if f.ep.Group != group || f.ep.Version != version {
			continue
		}
		if a.opts.Drain > 0 {
			t := time.NewTimer(a.opts.Drain)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if err := a.delete(ctx, f.name); err != nil {
			return fmt.Errorf("gcp: remove %s: %w", adapters.ID(group, version), err)
		}
		a.forget(f.name)
		return nil
	}
	return fmt.Errorf("gcp: remove %s: %w", adapters.ID(group, version), adapters.ErrNotFound)
}

func (a *Adapter) forget(name string) {
	a.mu.Lock()
	delete(a.deployed, name)
	a.mu.Unlock()
}

// listed is one Fusionize function found by List.
type listed struct {
	name string
	ep   adapters.Endpoint
}

// functions lists the functions labelled as Fusionize's in the project's
// region that are not failed.
func (a *Adapter) functions(ctx context.Context) ([]listed, error) {
	var out []listed
	it := a.client.ListFunctions(ctx, &functionspb.ListFunctionsRequest{Parent: "projects/" + a.opts.Project + "/locations/" + a.opts.Region})
	for {
		fn, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list functions: %w", err)
		}
		if fn.GetLabels()[LabelManaged] != "true" || fn.GetState() != functionspb.Function_ACTIVE {
			continue
		}
		env := fn.GetServiceConfig().GetEnvironmentVariables()
		v, err := strconv.ParseInt(env[EnvSetupVersion], 10, 64)
		if err != nil || env[EnvGroup] == "" {
			continue
		}
		url := fn.GetUrl()
		if url == "" {
			url = fn.GetServiceConfig().GetUri()
		}
		out = append(out, listed{name: fn.GetName(), ep: endpoint(env[EnvGroup], v, url)})
	}
}

// List implements adapters.Adapter.
func (a *Adapter) List(ctx context.Context) ([]adapters.Endpoint, error) {
	fns, err := a.functions(ctx)
	if err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	eps := make([]adapters.Endpoint, len(fns))
	for i, f := range fns {
		eps[i] = f.ep
	}
	return eps, nil
}

// Close implements adapters.Adapter: it deletes every function this
// adapter deployed and releases the client.
func (a *Adapter) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return adapters.ErrClosed
	}
	a.closed = true
	deps := a.deployed
	a.deployed = map[string]adapters.Endpoint{}
	a.mu.Unlock()
	var errs []error
	for name := range deps {
		if err := a.delete(ctx, name); err != nil && !errors.Is(err, adapters.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	_ = a.transport.Close()
	if err := a.client.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gcp: close: %w", err)
	}
	return nil
}
