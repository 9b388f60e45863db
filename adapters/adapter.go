// Package adapters holds the Adapter contract: how Fusionize deploys a fusion
// group to a platform, removes it, lists what runs, and where to invoke it.
// Each platform is a package of its own with a type named Adapter:
// adapters/local (one host process per group on loopback), and the cloud
// adapters as they arrive. Every adapter passes the same conformance suite
// (adapters/adaptertest).
//
//	var a adapters.Adapter = local.New(local.Options{Command: []string{"fusionize", "host"}})
//	ep, err := a.Deploy(ctx, adapters.Deployment{App: "iot", Version: 3, Group: g, ControlPlane: cp})
//	// ep.Endpoint is how the group is invoked (here a grpc address); the
//	// deployer records it with the setup version, and routes use it.
//	err = a.Remove(ctx, ep.Group, ep.Version)
//
// The deployer holds one adapter per provider (Adapters) and deploys each
// group through the adapter of its place's provider; a place no adapter
// serves is refused with ErrInvalid before anything is deployed.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
)

// Deployment is one fusion group of one setup version, to be deployed.
type Deployment struct {
	App     string
	Version int64       // the setup version the group belongs to
	Group   setup.Group // tasks, memory size, place

	// ControlPlane is the address hosts fetch their setup and modules from
	// and report spans to; Token authenticates them.
	ControlPlane string
	Token        string
	// InvokeToken is the app's invoke token. Hosts that serve HostService
	// (local processes) require it on Invoke; every host sends it on its
	// gRPC calls to other hosts. Lambda and Cloud Functions endpoints are
	// invoked through their platform's own auth (IAM, ID tokens) instead.
	InvokeToken string
}

// ID names a deployed group: "<group>@v<version>".
func (d Deployment) ID() string { return ID(d.Group.Name, d.Version) }

// ID names the deployment of group for setup version.
func ID(group string, version int64) string { return fmt.Sprintf("%s@v%d", group, version) }

// Endpoint is a deployed group and how it is invoked.
type Endpoint struct {
	Group    string
	Version  int64
	Provider string // the provider of the group's place
	// Endpoint is how the group is invoked: what the deployer records and
	// every route uses.
	Endpoint api.Endpoint
	// HTTP is the base URL of the group's REST gateway, /healthz and
	// /metrics, where the platform has one ("" otherwise).
	HTTP string
}

// Errors every adapter returns, wrapped with context ("local: deploy
// %q: %w"); callers branch on them with errors.Is.
var (
	// ErrExists: the group of that version is already deployed.
	ErrExists = errors.New("already deployed")
	// ErrNotFound: no such deployed group.
	ErrNotFound = errors.New("not deployed")
	// ErrUnhealthy: the group started but never reported healthy.
	ErrUnhealthy = errors.New("unhealthy")
	// ErrInvalid: the deployment is malformed (no tasks, bad memory size,
	// unsupported place).
	ErrInvalid = errors.New("invalid deployment")
	// ErrClosed: the adapter was closed.
	ErrClosed = errors.New("adapter closed")
)

// Adapter deploys fusion groups to one platform.
type Adapter interface {
	// Name names the adapter: "local", "aws", "gcp".
	Name() string
	// Providers lists the providers of the places the adapter deploys to
	// (the local adapter: "local", and the providers it emulates).
	Providers() []string
	// Deploy starts d's group and returns once it is healthy, with the
	// endpoint the group is invoked at. It returns ErrExists if d.ID() is
	// deployed, ErrInvalid for a malformed d or a place whose provider it
	// does not serve, and ErrUnhealthy if the group never became healthy
	// (nothing is left running then).
	Deploy(ctx context.Context, d Deployment) (Endpoint, error)
	// Remove drains the group (running invocations finish) and stops it.
	// It returns ErrNotFound if it is not deployed.
	Remove(ctx context.Context, group string, version int64) error
	// List returns the deployed groups.
	List(ctx context.Context) ([]Endpoint, error)
	// Close removes every group and releases the adapter.
	Close(ctx context.Context) error
}

// Adapters is the deployer's set of adapters: provider → the adapter that
// deploys to it. One adapter may serve several providers.
type Adapters map[string]Adapter

// LocalProvider is the provider of places on this machine, and of places
// that name no provider.
const LocalProvider = "local"

// Provider returns the provider of place: LocalProvider when it names none.
func Provider(place setup.Place) string {
	if place.Provider == "" {
		return LocalProvider
	}
	return place.Provider
}

// For returns the adapter of place's provider, or ErrInvalid.
func (as Adapters) For(place setup.Place) (Adapter, error) {
	p := Provider(place)
	if a, ok := as[p]; ok && a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("%w: no adapter for provider %q (place %s)", ErrInvalid, p, place)
}

// Serves reports whether a deploys to place.
func Serves(a Adapter, place setup.Place) bool {
	return slices.Contains(a.Providers(), Provider(place))
}

// Validate checks the parts of d every adapter needs.
func (d Deployment) Validate() error {
	if d.Group.Name == "" {
		return fmt.Errorf("%w: group has no name", ErrInvalid)
	}
	if len(d.Group.Tasks) == 0 {
		return fmt.Errorf("%w: group %q has no tasks", ErrInvalid, d.Group.Name)
	}
	if d.Group.MemoryMB < 0 || d.Group.MemoryMB > 10240 {
		return fmt.Errorf("%w: group %q: memory %d MB outside 0..10240", ErrInvalid, d.Group.Name, d.Group.MemoryMB)
	}
	if d.Version <= 0 {
		return fmt.Errorf("%w: group %q: setup version %d", ErrInvalid, d.Group.Name, d.Version)
	}
	return nil
}
