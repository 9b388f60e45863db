// Package invoke calls the tasks of a running application the way a client
// would, in one of two ways:
//
//   - through the app's stable entry point (NewEntry): every request goes
//     to the control plane's HostService/Invoke, which forwards it to the
//     active version's group and follows switches itself. The client
//     needs one address that never changes, and only the invoke token.
//
//   - directly (New): it asks the control plane which setup version is
//     active and the endpoint the deployer recorded for the task's group,
//     and sends the request there through the host transport of the
//     endpoint's kind (host/transport/route). It follows setup switches:
//     it refreshes its view periodically, and a request the host refused
//     before running it (CodeUnavailable: draining, shutting down, or
//     unreachable) is sent again by the freshest routes. This saves the
//     control plane's hop; it is what tools that measure the hosts use.
//
//     inv := invoke.NewEntry("127.0.0.1:7070", invoke.WithInvokeToken(tok))
//     defer inv.Close()
//     res, err := inv.Invoke(ctx, "I", input)
//
//     inv := invoke.New(cp, invoke.WithInvokeToken(tok)) // cp: *client.Client
//
// Hosts that serve HostService, and the entry point, require the app's
// invoke token on Invoke (the control plane's invoke-token file;
// ControlPlane.InvokeToken in process); without WithInvokeToken they refuse
// every request with Unauthenticated. Lambda and Cloud Functions endpoints
// authenticate the platform's way (IAM-signed requests, ID tokens) and
// ignore it.
package invoke

import (
	"context"
	"fmt"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/host/transport/route"
)

// EntryGroup is the group name Result.Route reports for requests sent
// through the entry point, which does not say which group served them.
const EntryGroup = "entry"

// Invoker sends requests to the groups of the active setup, directly or
// through the entry point. It is safe for concurrent use.
type Invoker struct {
	router *route.Router
	mux    *transport.Mux
}

// Option configures an Invoker.
type Option func(*grpctransport.Options)

// WithInvokeToken sends the app's invoke token on every gRPC Invoke.
func WithInvokeToken(token string) Option {
	return func(o *grpctransport.Options) { o.InvokeToken = token }
}

func newMux(opts []Option) *transport.Mux {
	// Plaintext to loopback hosts; with no TLS it cannot fail.
	gopts := grpctransport.Options{Insecure: true}
	for _, o := range opts {
		o(&gopts)
	}
	mux, _ := transport.Standard(transport.Options{GRPC: gopts})
	return mux
}

// New returns an Invoker that asks cp where tasks run and sends requests
// directly to their groups.
func New(cp *client.Client, opts ...Option) *Invoker {
	mux := newMux(opts)
	return &Invoker{router: route.New(controlPlaneSource{cp}, mux, route.Options{}), mux: mux}
}

// NewEntry returns an Invoker that sends every request to the app's entry
// point, the control plane's HostService at addr (its gRPC address). A
// Result's Version is 0 then: the entry point chose it.
func NewEntry(addr string, opts ...Option) *Invoker {
	mux := newMux(opts)
	ep := api.GRPC(addr)
	src := route.SourceFunc(func(context.Context) (route.Table, error) {
		return route.Table{Default: EntryGroup, Endpoints: api.Endpoints{EntryGroup: ep}}, nil
	})
	return &Invoker{router: route.New(src, mux, route.Options{Refresh: -1}), mux: mux}
}

// Result is one invocation's outcome.
type Result struct {
	Output   []byte
	Version  int64        // the setup version that served it; 0 through the entry point
	Endpoint api.Endpoint // where it was sent
}

// Route is where a task's requests go in the active setup.
type Route = route.Route

// Invoke runs task on input and returns its output.
func (v *Invoker) Invoke(ctx context.Context, task string, input []byte) (Result, error) {
	return v.Call(ctx, host.Call{Task: task, Input: input})
}

// Call sends c (a client request: no caller) to its task's group.
func (v *Invoker) Call(ctx context.Context, c host.Call) (Result, error) {
	r, err := v.router.Call(ctx, c)
	if err != nil {
		return Result{}, err
	}
	return Result{Output: r.Output, Version: r.Version, Endpoint: r.Endpoint}, nil
}

// Route returns where task's requests go, asking the control plane afresh.
func (v *Invoker) Route(ctx context.Context, task string) (Route, error) {
	return v.router.Route(ctx, task)
}

// Close closes the connections to hosts.
func (v *Invoker) Close() error { return v.mux.Close() }

// controlPlaneSource reads the active setup's routes from the control
// plane's API.
type controlPlaneSource struct{ cp *client.Client }

func (s controlPlaneSource) Table(ctx context.Context) (route.Table, error) {
	st, err := s.cp.Status(ctx)
	if err != nil {
		return route.Table{}, err
	}
	if st.ActiveVersion == 0 {
		return route.Table{}, fmt.Errorf("invoke: %w yet: run 'fusionize up <app>' first", route.ErrNoActiveSetup)
	}
	su, eps, err := s.cp.SetupEndpoints(ctx, st.ActiveVersion)
	if err != nil {
		return route.Table{}, err
	}
	return route.Table{Version: su.Version, GroupOf: su.Assignment(), Endpoints: eps}, nil
}
