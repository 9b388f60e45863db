package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/controlplane/store"
	"github.com/fusionize/fusionize/host"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/host/transport/route"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// Metadata the entry point sends in the response headers of a served
// Invoke (over REST: the Fusionize-Setup-Version and Fusionize-Group
// headers): which setup version and group answered.
const (
	MDSetupVersion = "fusionize-setup-version"
	MDGroup        = "fusionize-group"
)

// entryName is how the entry point names itself in errors and in Health.
const entryName = "entry point"

// entryTableTTL bounds how long the entry point keeps the routes of the
// active version without reading them again (endpoints of a version are
// recorded once, but a restarted local host may record a new address).
const entryTableTTL = time.Second

// Entry is the app's stable entry point: fusionize.v1.HostService served
// by the control plane on its own addresses. Invoke forwards each request
// to the group of the active setup version that holds its task, through
// the transport of the group's endpoint (gRPC to local hosts, the Lambda
// Invoke API to an alias, HTTPS to a Cloud Function's URL), and follows
// live switches: the routes come from the store, read again as soon as the
// active version changes, and a request a draining host refused is sent
// again by the new routes. Clients keep one address through every deploy.
type Entry struct {
	fusionizev1.UnimplementedHostServiceServer

	app    string
	st     *store.Store
	src    *storeRoutes
	router *route.Router
}

var _ fusionizev1.HostServiceServer = (*Entry)(nil)

// NewEntry returns the entry point of the app whose store is st; it sends
// through tr (host/transport.Standard with the app's invoke token), which
// the caller keeps.
func NewEntry(app string, st *store.Store, tr host.Transport) *Entry {
	src := &storeRoutes{st: st}
	return &Entry{app: app, st: st, src: src, router: route.New(src, tr, route.Options{Refresh: -1})}
}

// Invoke forwards a client request to the active version's group of its
// task. It fails with NotFound naming the task when the active version has
// no such task, with FailedPrecondition while no version is active, and
// otherwise with the code the host sent (its exact code in the
// fusionize-code trailer and the ErrorInfo detail, as hosts send it).
func (e *Entry) Invoke(ctx context.Context, req *fusionizev1.InvokeRequest) (*fusionizev1.InvokeResponse, error) {
	c := host.Call{
		Task:     req.GetTask(),
		Input:    req.GetInput(),
		Async:    req.GetAsync(),
		TraceID:  req.GetTraceId(),
		ParentID: req.GetParentSpanId(),
		Depth:    int(req.GetDepth()),
	}
	// The caller's W3C trace context goes on to the host, so the host's
	// spans join the caller's trace.
	c.SetTraceparent(mdValue(ctx, grpctransport.MDTraceparent), mdValue(ctx, grpctransport.MDTracestate))
	if v := mdValue(ctx, grpctransport.MDParentSpan); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			c.ParentID = n
		}
	}
	if c.Task == "" {
		return nil, status.Errorf(codes.InvalidArgument, "app %q: invoke names no task", e.app)
	}
	var spanID uint64 // the host's span of the entry invocation, from its response
	res, err := e.router.Call(grpctransport.WithResponseSpan(ctx, &spanID), c)
	if errors.Is(err, route.ErrNoActiveSetup) {
		return nil, status.Errorf(codes.FailedPrecondition, "app %q: %v", e.app, err)
	}
	if err != nil {
		st, code := grpctransport.ToStatus(err, c.Task, entryName)
		_ = grpc.SetTrailer(ctx, metadata.Pairs(grpctransport.MDCode, strconv.Itoa(int(code))))
		return nil, st.Err()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(MDSetupVersion, strconv.FormatInt(res.Version, 10), MDGroup, res.Group))
	return &fusionizev1.InvokeResponse{Output: res.Output, TraceId: c.TraceID, SpanId: spanID}, nil
}

// Health says SERVING while a setup version is active (with that version
// and its tasks), NOT_SERVING before the first one.
func (e *Entry) Health(ctx context.Context, _ *fusionizev1.HealthRequest) (*fusionizev1.HealthResponse, error) {
	t, err := e.src.Table(ctx)
	if errors.Is(err, route.ErrNoActiveSetup) {
		return &fusionizev1.HealthResponse{Status: fusionizev1.ServingStatus_SERVING_STATUS_NOT_SERVING, Host: entryName}, nil
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &fusionizev1.HealthResponse{Status: fusionizev1.ServingStatus_SERVING_STATUS_SERVING, Host: entryName,
		SetupVersion: t.Version, Tasks: slices.Sorted(maps.Keys(t.GroupOf))}, nil
}

// storeRoutes is the route.Source of the entry point: the active version's
// routes from the store, kept until the active version changes (one read
// of the active version per request) or entryTableTTL passes.
type storeRoutes struct {
	st *store.Store

	mu      sync.Mutex
	table   route.Table
	fetched time.Time
}

func (s *storeRoutes) Table(context.Context) (route.Table, error) {
	v, err := s.st.ActiveVersion()
	if err != nil {
		return route.Table{}, err
	}
	if v == 0 {
		return route.Table{}, fmt.Errorf("%w: nothing is deployed yet (run 'fusionize up <app>', or wait for its first setup to serve)", route.ErrNoActiveSetup)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.table.Version == v && time.Since(s.fetched) < entryTableTTL {
		return s.table, nil
	}
	su, err := s.st.Setup(v)
	if err != nil {
		return route.Table{}, fmt.Errorf("entry point: active setup version %d: %w", v, err)
	}
	eps, err := s.st.Endpoints(v)
	if err != nil {
		return route.Table{}, fmt.Errorf("entry point: endpoints of setup version %d: %w", v, err)
	}
	s.table, s.fetched = route.Table{Version: v, GroupOf: su.Assignment(), Endpoints: eps}, time.Now()
	return s.table, nil
}

// mdValue returns the first value of key in ctx's incoming metadata.
func mdValue(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}
