// Package transport picks the invoke path of a remote call by the callee
// group's endpoint. A host calls tasks of other groups through one
// host.Transport; Mux is that transport, and hands each call to the
// Transport registered for its endpoint's Kind: host/transport/grpc for
// api.KindGRPC today, the Lambda Invoke API (api.KindLambda) and HTTPS
// (api.KindHTTPS) as their transports arrive.
//
//	tr, _ := grpctransport.NewTransport(grpctransport.Options{})
//	mux := transport.NewMux()
//	mux.Register(api.KindGRPC, tr)
//	h, _ := host.New(ctx, host.Config{Transport: mux, Endpoints: host.StaticEndpoints{
//		"b": api.GRPC("127.0.0.1:9001"),
//	}})
//
// The routes themselves (group → endpoint) are the host's Endpoints, from
// what the deployer recorded; the mux only knows invoke paths. Observe
// hands every call's kind, outcome and duration to an observer (the remote
// call latency histogram of host/server).
package transport

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusionize/fusionize/host"
)

// Mux is a host.Transport that dispatches by endpoint kind. It is safe for
// concurrent use; register transports before the first call.
type Mux struct {
	mu      sync.RWMutex
	byKind  map[string]host.Transport
	observe atomic.Pointer[Observer]
}

// Observer is told of every call a Mux sent: the endpoint kind (the
// transport), the host code it ended with (host.CodeOK for success) and
// how long it took as seen by the caller, transport included. It must be
// quick and safe for concurrent use. host/server's
// Server.ObserveRemoteCall is one: it feeds the remote call latency
// histogram.
type Observer func(kind string, code host.Code, elapsed time.Duration)

// Observe makes o see every later call; nil stops observing.
func (m *Mux) Observe(o Observer) {
	if o == nil {
		m.observe.Store(nil)
		return
	}
	m.observe.Store(&o)
}

var _ host.Transport = (*Mux)(nil)

// NewMux returns a Mux with no transports.
func NewMux() *Mux { return &Mux{byKind: make(map[string]host.Transport)} }

// Register makes t carry the calls to endpoints of kind (api.KindGRPC,
// api.KindLambda, api.KindHTTPS). A later Register of the same kind
// replaces the earlier one.
func (m *Mux) Register(kind string, t host.Transport) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byKind[kind] = t
}

// Kinds returns the registered kinds, sorted.
func (m *Mux) Kinds() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Sorted(maps.Keys(m.byKind))
}

// Invoke sends c through the transport of to.Endpoint.Kind. A kind nobody
// registered fails with host.CodeUnavailable naming the task and group.
func (m *Mux) Invoke(ctx context.Context, to host.Target, c host.Call) ([]byte, error) {
	m.mu.RLock()
	t, ok := m.byKind[to.Endpoint.Kind]
	m.mu.RUnlock()
	if !ok {
		return nil, &host.Error{Task: c.Task, Code: host.CodeUnavailable,
			Msg: fmt.Sprintf("group %q: no transport for %s endpoints (have %v)", to.Group, to.Endpoint.Kind, m.Kinds())}
	}
	obs := m.observe.Load()
	if obs == nil {
		return t.Invoke(ctx, to, c)
	}
	start := time.Now()
	out, err := t.Invoke(ctx, to, c)
	(*obs)(to.Endpoint.Kind, host.CodeOf(err), time.Since(start))
	return out, err
}
