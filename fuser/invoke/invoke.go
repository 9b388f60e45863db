// Package invoke calls the tasks of a running application the way a client
// would: it asks the control plane which setup version is active and the
// endpoint the deployer recorded for the task's group, and sends the request
// there through the host transport of the endpoint's kind. It follows setup
// switches: it refreshes its view periodically, and a request the host
// refused before running it (the host's code is CodeUnavailable: draining,
// shutting down, or unreachable) is sent again by the freshest routes.
//
//	inv := invoke.New(cp, invoke.WithInvokeToken(tok)) // cp: *client.Client
//	defer inv.Close()
//	res, err := inv.Invoke(ctx, "I", input)
//
// Hosts that serve HostService require the app's invoke token on Invoke
// (the control plane's invoke-token file; ControlPlane.InvokeToken in
// process); without WithInvokeToken they refuse every request with
// Unauthenticated. Lambda and Cloud Functions endpoints authenticate the
// platform's way (IAM-signed requests, ID tokens) and ignore it.
package invoke

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
)

// Invoker sends requests to the groups of the active setup. It is safe for
// concurrent use.
type Invoker struct {
	cp      *client.Client
	refresh time.Duration
	mux     *transport.Mux

	mu      sync.Mutex
	version int64
	groupOf map[string]string // task → group, active version
	eps     api.Endpoints     // group → endpoint, active version
	fetched time.Time
}

// Option configures an Invoker.
type Option func(*grpctransport.Options)

// WithInvokeToken sends the app's invoke token on every gRPC Invoke.
func WithInvokeToken(token string) Option {
	return func(o *grpctransport.Options) { o.InvokeToken = token }
}

// New returns an Invoker that asks cp where tasks run.
func New(cp *client.Client, opts ...Option) *Invoker {
	// Plaintext to loopback hosts; with no TLS it cannot fail.
	gopts := grpctransport.Options{Insecure: true}
	for _, o := range opts {
		o(&gopts)
	}
	mux, _ := transport.Standard(transport.Options{GRPC: gopts})
	return &Invoker{cp: cp, refresh: time.Second, mux: mux}
}

// Result is one invocation's outcome.
type Result struct {
	Output   []byte
	Version  int64        // the setup version that served it
	Endpoint api.Endpoint // where it was sent
}

// Route is where a task's requests go in the active setup.
type Route struct {
	Group    string
	Version  int64
	Endpoint api.Endpoint
}

// Invoke runs task on input and returns its output.
func (v *Invoker) Invoke(ctx context.Context, task string, input []byte) (Result, error) {
	return v.Call(ctx, host.Call{Task: task, Input: input})
}

// Call sends c (a client request: no caller) to its task's group.
func (v *Invoker) Call(ctx context.Context, c host.Call) (Result, error) {
	var last error
	for attempt := range 3 {
		r, err := v.route(ctx, c.Task, attempt > 0)
		if err != nil {
			return Result{}, err
		}
		out, err := v.mux.Invoke(ctx, host.Target{Group: r.Group, Endpoint: r.Endpoint}, c)
		if err == nil {
			return Result{Output: out, Version: r.Version, Endpoint: r.Endpoint}, nil
		}
		last = fmt.Errorf("invoke %s at %v (setup version %d): %w", c.Task, r.Endpoint, r.Version, err)
		if !refused(err) {
			return Result{}, last
		}
	}
	return Result{}, last
}

// refused reports whether the host turned the request away before running
// it: it sent CodeUnavailable (draining, shutting down) or could not be
// reached. It goes by the code the host sent (the fusionize-code trailer,
// the ErrorInfo detail), never by message text.
func refused(err error) bool { return host.CodeOf(err) == host.CodeUnavailable }

// Route returns where task's requests go in the active setup, asking the
// control plane afresh.
func (v *Invoker) Route(ctx context.Context, task string) (Route, error) {
	return v.route(ctx, task, true)
}

// route returns the endpoint of task's group in the active setup.
func (v *Invoker) route(ctx context.Context, task string, force bool) (Route, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if force || v.groupOf == nil || time.Since(v.fetched) > v.refresh {
		if err := v.fetch(ctx); err != nil {
			return Route{}, err
		}
	}
	g, ok := v.groupOf[task]
	if !ok {
		return Route{}, fmt.Errorf("invoke: unknown task %q in setup version %d", task, v.version)
	}
	ep, ok := v.eps[g]
	if !ok {
		return Route{}, fmt.Errorf("invoke: no endpoint recorded for group %q of setup version %d", g, v.version)
	}
	return Route{Group: g, Version: v.version, Endpoint: ep}, nil
}

func (v *Invoker) fetch(ctx context.Context) error {
	st, err := v.cp.Status(ctx)
	if err != nil {
		return err
	}
	if st.ActiveVersion == 0 {
		return errors.New("invoke: no active setup yet: run 'fusionize up <app>' first")
	}
	su, eps, err := v.cp.SetupEndpoints(ctx, st.ActiveVersion)
	if err != nil {
		return err
	}
	v.groupOf, v.eps = su.Assignment(), eps
	v.version = su.Version
	v.fetched = time.Now()
	return nil
}

// Close closes the connections to hosts.
func (v *Invoker) Close() error { return v.mux.Close() }
