// Package adapters holds the Adapter contract: how Fusionize deploys a fusion
// group to a platform, removes it, lists what runs, and where to invoke it.
// Each platform is a package of its own with a type named Adapter:
// adapters/local (one host process per group on loopback), and the cloud
// adapters as they arrive. Every adapter passes the same conformance suite
// (adapters/adaptertest).
//
//	var a adapters.Adapter = local.New(local.Options{Command: []string{"fusionize", "host"}})
//	ep, err := a.Deploy(ctx, adapters.Deployment{App: "iot", Version: 3, Group: g, ControlPlane: cp})
//	// ep.GRPC serves fusionize.v1.HostService for the group's tasks.
//	err = a.Remove(ctx, ep.Group, ep.Version)
package adapters

import (
	"context"
	"errors"
	"fmt"

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
	// Profile names the emulated platform profile for local hosts
	// ("" for none), e.g. "aws/us-east-1".
	Profile string
}

// ID names a deployed group: "<group>@v<version>".
func (d Deployment) ID() string { return ID(d.Group.Name, d.Version) }

// ID names the deployment of group for setup version.
func ID(group string, version int64) string { return fmt.Sprintf("%s@v%d", group, version) }

// Endpoint is where a deployed group is invoked.
type Endpoint struct {
	Group    string
	Version  int64
	Provider string
	GRPC     string // host:port serving fusionize.v1.HostService
	HTTP     string // base URL of the REST gateway, /healthz and /metrics
	// Invoke names the invoke path: "grpc" for hosts reached directly, or a
	// platform's own path (e.g. "lambda:Invoke").
	Invoke string
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
	// Name is the provider the adapter deploys to: "local", "aws", "gcp".
	Name() string
	// Deploy starts d's group and returns once it is healthy. It returns
	// ErrExists if d.ID() is deployed, ErrInvalid for a malformed d and
	// ErrUnhealthy if the group never became healthy (nothing is left
	// running then).
	Deploy(ctx context.Context, d Deployment) (Endpoint, error)
	// Remove drains the group (running invocations finish) and stops it.
	// It returns ErrNotFound if it is not deployed.
	Remove(ctx context.Context, group string, version int64) error
	// List returns the deployed groups.
	List(ctx context.Context) ([]Endpoint, error)
	// Close removes every group and releases the adapter.
	Close(ctx context.Context) error
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
