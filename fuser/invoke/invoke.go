// Package invoke calls the tasks of a running application the way a client
// would: it asks the control plane which setup version is active and which
// host serves the task's group, and sends the request to that host over
// gRPC. It follows setup switches: it refreshes its view periodically, and a
// request refused by a draining host (one that never ran) is sent again to
// the new version's host.
//
//	inv := invoke.New(cp) // cp: *client.Client
//	defer inv.Close()
//	out, err := inv.Invoke(ctx, "I", input)
package invoke

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/controlplane/client"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// Invoker sends requests to the hosts of the active setup. It is safe for
// concurrent use.
type Invoker struct {
	cp      *client.Client
	refresh time.Duration

	mu      sync.Mutex
	version int64
	groupOf map[string]string // task → group, active version
	addrOf  map[string]string // group → host address, active version
	fetched time.Time
	conns   map[string]*grpc.ClientConn
}

// New returns an Invoker that asks cp where tasks run.
func New(cp *client.Client) *Invoker {
	return &Invoker{cp: cp, refresh: time.Second, conns: map[string]*grpc.ClientConn{}}
}

// Result is one invocation's outcome.
type Result struct {
	Output  []byte
	Version int64  // the setup version that served it
	Addr    string // the host that served it
}

// Invoke runs task on input and returns its output.
func (v *Invoker) Invoke(ctx context.Context, task string, input []byte) (Result, error) {
	var last error
	for attempt := range 3 {
		addr, version, err := v.route(ctx, task, attempt > 0)
		if err != nil {
			return Result{}, err
		}
		cc, err := v.conn(addr)
		if err != nil {
			return Result{}, err
		}
		res, err := fusionizev1.NewHostServiceClient(cc).Invoke(ctx, &fusionizev1.InvokeRequest{Task: task, Input: input})
		if err == nil {
			return Result{Output: res.GetOutput(), Version: version, Addr: addr}, nil
		}
		last = fmt.Errorf("invoke %s at %s (setup version %d): %w", task, addr, version, err)
		if !refused(err) {
			return Result{}, last
		}
	}
	return Result{}, last
}

// refused reports whether the host turned the request away before running
// it: it is draining, or gone.
func refused(err error) bool {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.Unavailable {
		return false
	}
	m := s.Message()
	return strings.Contains(m, "draining") || strings.Contains(m, "shutting down") ||
		strings.Contains(m, "connection refused") || strings.Contains(m, "connection reset")
}

// Route returns the address of the host that serves task in the active
// setup, and that setup's version, asking the control plane afresh.
func (v *Invoker) Route(ctx context.Context, task string) (addr string, version int64, err error) {
	return v.route(ctx, task, true)
}

// route returns the host of task's group in the active setup.
func (v *Invoker) route(ctx context.Context, task string, force bool) (string, int64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if force || v.groupOf == nil || time.Since(v.fetched) > v.refresh {
		if err := v.fetch(ctx); err != nil {
			return "", 0, err
		}
	}
	g, ok := v.groupOf[task]
	if !ok {
		return "", 0, fmt.Errorf("invoke: unknown task %q in setup version %d", task, v.version)
	}
	a, ok := v.addrOf[g]
	if !ok {
		return "", 0, fmt.Errorf("invoke: no live host for group %q of setup version %d", g, v.version)
	}
	return a, v.version, nil
}

func (v *Invoker) fetch(ctx context.Context) error {
	st, err := v.cp.Status(ctx)
	if err != nil {
		return err
	}
	if st.ActiveVersion == 0 {
		return errors.New("invoke: no active setup yet: run 'fusionize up <app>' first")
	}
	su, err := v.cp.Setup(ctx, st.ActiveVersion)
	if err != nil {
		return err
	}
	hosts, err := v.cp.Hosts(ctx)
	if err != nil {
		return err
	}
	v.groupOf = su.Assignment()
	v.addrOf = map[string]string{}
	for _, h := range hosts {
		if h.SetupVersion == su.Version {
			v.addrOf[h.Group] = h.Address
		}
	}
	v.version = su.Version
	v.fetched = time.Now()
	return nil
}

func (v *Invoker) conn(addr string) (*grpc.ClientConn, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cc, ok := v.conns[addr]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	v.conns[addr] = cc
	return cc, nil
}

// Close closes the connections to hosts.
func (v *Invoker) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var errs []error
	for a, cc := range v.conns {
		errs = append(errs, cc.Close())
		delete(v.conns, a)
	}
	return errors.Join(errs...)
}
