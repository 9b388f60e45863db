// Package route sends client requests to the groups of an application's
// active setup. A Router asks a Source for the routing table of the active
// version (task → group, group → endpoint, as the deployer recorded them),
// keeps it for a while, and sends each request through a host.Transport
// (host/transport.Standard: gRPC, the Lambda Invoke API, HTTPS). It follows
// live switches: a request the host refused before running it (its code is
// host.CodeUnavailable: draining, shutting down, unreachable) is sent again
// by a fresh table.
//
//	mux, _ := transport.Standard(transport.Options{GRPC: grpctransport.Options{InvokeToken: tok}})
//	r := route.New(src, mux, route.Options{}) // src: a Source
//	res, err := r.Call(ctx, host.Call{Task: "I", Input: in})
//
// Two clients use it: fuser/invoke (the table from the control plane's
// client API) and the control plane's entry point (controlplane/server,
// the table from its store). The package imports only api, host and the
// standard library, so both may.
package route

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/host"
)

// DefaultRefresh is how long a Router keeps a table before it asks its
// Source again; Options.Refresh overrides it.
const DefaultRefresh = time.Second

// DefaultAttempts is how often a Router sends a request that hosts refuse
// with host.CodeUnavailable, each time by a fresh table.
const DefaultAttempts = 3

// ErrNoActiveSetup is what a Source returns (wrapped) while no setup
// version is active: nothing has been deployed yet.
var ErrNoActiveSetup = errors.New("no active setup")

// Table is the routing of one setup version.
type Table struct {
	Version int64
	GroupOf map[string]string // task → group
	// Default is the group of the tasks GroupOf does not name (a gateway
	// that serves them all); "" makes them unknown.
	Default   string
	Endpoints api.Endpoints // group → endpoint
}

// Source returns the table of the active setup version. It returns an
// error wrapping ErrNoActiveSetup while none is active.
type Source interface {
	Table(ctx context.Context) (Table, error)
}

// SourceFunc is a Source in a function.
type SourceFunc func(ctx context.Context) (Table, error)

// Table calls f.
func (f SourceFunc) Table(ctx context.Context) (Table, error) { return f(ctx) }

// Options tune a Router. The zero value gives the defaults.
type Options struct {
	// Refresh is how long a table is used before the Source is asked
	// again; 0 means DefaultRefresh, negative: ask for every request (for
	// a Source that is cheap and caches itself).
	Refresh time.Duration
	// Attempts bounds the sends of a request hosts refuse; 0 means
	// DefaultAttempts.
	Attempts int
}

// Route is where a task's requests go.
type Route struct {
	Group    string
	Version  int64
	Endpoint api.Endpoint
}

// Result is one request's outcome.
type Result struct {
	Output []byte
	Route  // where it was sent, and the setup version that served it
}

// Router sends requests by the active routes. It is safe for concurrent
// use.
type Router struct {
	src  Source
	tr   host.Transport
	opts Options

	mu      sync.Mutex
	table   Table
	fetched time.Time
}

// New returns a Router over src that sends through tr. The caller keeps
// ownership of tr.
func New(src Source, tr host.Transport, opts Options) *Router {
	if opts.Refresh == 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	return &Router{src: src, tr: tr, opts: opts}
}

// Call sends c (a client request: no caller) to its task's group in the
// active setup and returns the output. An unknown task fails with
// host.CodeUnknownTask naming it; while no setup is active the Source's
// error (wrapping ErrNoActiveSetup) is returned.
func (r *Router) Call(ctx context.Context, c host.Call) (Result, error) {
	var last error
	for attempt := range r.opts.Attempts {
		rt, err := r.route(ctx, c.Task, attempt > 0)
		if err != nil {
			return Result{}, err
		}
		out, err := r.tr.Invoke(ctx, host.Target{Group: rt.Group, Endpoint: rt.Endpoint}, c)
		if err == nil {
			return Result{Output: out, Route: rt}, nil
		}
		last = fmt.Errorf("invoke %s at %v (setup version %d): %w", c.Task, rt.Endpoint, rt.Version, err)
		if !Refused(err) {
			return Result{}, last
		}
	}
	return Result{}, last
}

// Refused reports whether the host turned the request away before running
// it: it sent CodeUnavailable (draining, shutting down) or could not be
// reached. It goes by the code the host sent (the fusionize-code trailer,
// the ErrorInfo detail), never by message text.
func Refused(err error) bool { return host.CodeOf(err) == host.CodeUnavailable }

// Route returns where task's requests go in the active setup, asking the
// Source afresh.
func (r *Router) Route(ctx context.Context, task string) (Route, error) {
	return r.route(ctx, task, true)
}

func (r *Router) route(ctx context.Context, task string, fresh bool) (Route, error) {
	t, err := r.current(ctx, fresh)
	if err != nil {
		return Route{}, err
	}
	g, ok := t.GroupOf[task]
	if !ok && t.Default != "" {
		g, ok = t.Default, true
	}
	if !ok {
		return Route{}, &host.Error{Task: task, Code: host.CodeUnknownTask,
			Msg: fmt.Sprintf("no task %q in setup version %d (its tasks: %s)", task, t.Version, strings.Join(slices.Sorted(maps.Keys(t.GroupOf)), ", "))}
	}
	ep, ok := t.Endpoints[g]
	if !ok {
		return Route{}, &host.Error{Task: task, Code: host.CodeUnavailable,
			Msg: fmt.Sprintf("no endpoint recorded for group %q of setup version %d", g, t.Version)}
	}
	return Route{Group: g, Version: t.Version, Endpoint: ep}, nil
}

// current returns the table, asking the Source when fresh is set, when it
// has none or when it is older than Options.Refresh.
func (r *Router) current(ctx context.Context, fresh bool) (Table, error) {
	if r.opts.Refresh < 0 {
		return r.src.Table(ctx)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if fresh || r.fetched.IsZero() || time.Since(r.fetched) > r.opts.Refresh {
		t, err := r.src.Table(ctx)
		if err != nil {
			return Table{}, err
		}
		r.table, r.fetched = t, time.Now()
	}
	return r.table, nil
}
