package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/fusionize/fusionize/host"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/proto/descriptor"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// Options configures a Server. The zero value of every field selects
// the documented default.
type Options struct {
	// MaxPayload is the payload limit the gRPC message limits are derived
	// from (grpctransport.MessageLimits), in bytes. Default the host's
	// Config.MaxPayload, which is what checks each input and output.
	MaxPayload int
	// Overhead is added to MaxPayload for the gRPC message size limits.
	// Default DefaultOverhead.
	Overhead int

	// InvokeToken, if set, is required on every Invoke, from clients and
	// from other hosts alike, as gRPC metadata "authorization: Bearer
	// <token>" (REST: the Authorization header); a call without it or with
	// another is refused with Unauthenticated before anything runs. The
	// standard health service, reflection and HostService.Health stay
	// open. Empty leaves Invoke open (in-process use, tests); a host
	// process (runtime/process) always sets the app's invoke token.
	InvokeToken string

	// TLS, if set, makes the gRPC server serve TLS. Default plaintext
	// (bind the listener to loopback or a private network).
	TLS *tls.Config

	// Keepalive configures server pings. Default: ping a connection idle
	// for 60 s, 20 s to answer.
	Keepalive keepalive.ServerParameters
	// KeepalivePolicy bounds client pings. Default: at most one per 15 s,
	// also without running calls (Transport pings every 30 s).
	KeepalivePolicy keepalive.EnforcementPolicy

	// Registry receives the server's metrics: a host collector (Stats),
	// the latency histograms of requests served and of remote calls sent
	// (ObserveRemoteCall). Default a new registry that also holds the Go
	// and process collectors, served by the HTTP handler's /metrics.
	Registry *prometheus.Registry
	// HostLabel is the value of the host label of every metric. Default
	// h.Name(). A host process sets its group's name: its host name
	// carries the setup version, which is the setup_version label instead.
	HostLabel string

	// GRPCOptions are appended to the server's own options.
	GRPCOptions []grpc.ServerOption
}

// Serving states of a Server, as reported by Health and /healthz.
const (
	stateServing int32 = iota
	stateDraining
	stateStopped
)

// Server serves a host's HostService over gRPC: Invoke runs calls from
// clients and other hosts on the host, Health describes it. It maps host
// errors to gRPC status codes (see the package comment) and records a
// latency histogram per task. Create it with New.
type Server struct {
	fusionizev1.UnimplementedHostServiceServer

	h        *host.Host
	opts     Options
	grpc     *grpc.Server
	health   *health.Server
	stopping chan struct{} // closed by Shutdown: ends health watches
	stopOnce sync.Once
	reg      *prometheus.Registry
	metrics  serverMetrics
	state    atomic.Int32
	inflight atomic.Int64
	token    []byte // Options.InvokeToken; nil: Invoke is open
}

var _ fusionizev1.HostServiceServer = (*Server)(nil)

// New returns a Server for h, with its *grpc.Server (GRPCServer)
// ready to serve. It registers its metrics in opts.Registry.
func New(h *host.Host, opts Options) (*Server, error) {
	if h == nil {
		return nil, errors.New("remote: New needs a host")
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = h.MaxPayload()
	}
	if opts.Overhead <= 0 {
		opts.Overhead = grpctransport.DefaultOverhead
	}
	if opts.Keepalive == (keepalive.ServerParameters{}) {
		opts.Keepalive = keepalive.ServerParameters{Time: 60 * time.Second, Timeout: 20 * time.Second}
	}
	if opts.KeepalivePolicy == (keepalive.EnforcementPolicy{}) {
		opts.KeepalivePolicy = keepalive.EnforcementPolicy{MinTime: 15 * time.Second, PermitWithoutStream: true}
	}
	if opts.Registry == nil {
		opts.Registry = newRegistry()
	}
	s := &Server{h: h, opts: opts, reg: opts.Registry, stopping: make(chan struct{})}
	if opts.InvokeToken != "" {
		s.token = []byte(opts.InvokeToken)
	}
	s.metrics = newServerMetrics(constLabels(h, opts.HostLabel))
	if err := s.reg.Register(NewCollector(h, opts.HostLabel)); err != nil {
		return nil, err
	}
	if err := s.metrics.register(s.reg); err != nil {
		return nil, err
	}
	send, recv := grpctransport.MessageLimits(opts.MaxPayload, opts.Overhead)
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if opts.TLS != nil {
		creds = credentials.NewTLS(opts.TLS)
	}
	gopts := []grpc.ServerOption{
		grpc.Creds(creds),
		grpc.MaxRecvMsgSize(recv),
		grpc.MaxSendMsgSize(send),
		grpc.KeepaliveParams(opts.Keepalive),
		grpc.KeepaliveEnforcementPolicy(opts.KeepalivePolicy),
	}
	s.grpc = grpc.NewServer(append(gopts, opts.GRPCOptions...)...)
	fusionizev1.RegisterHostServiceServer(s.grpc, s)
	s.health = health.NewServer()
	s.setHealth(healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.grpc, healthService{s.health, s})
	if err := descriptor.RegisterReflection(s.grpc); err != nil {
		return nil, err
	}
	return s, nil
}

// healthService is the standard grpc.health.v1.Health service of a Server:
// SERVING for "" (the whole server) and for fusionize.v1.HostService while
// the server serves, NOT_SERVING once its host drains or it shuts down,
// NOT_FOUND for any other service name. Before answering it catches up
// with a host.Drain made behind the Server's back (Server.Drain tells
// watchers at once).
type healthService struct {
	*health.Server
	s *Server
}

func (hs healthService) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	hs.s.syncHealth()
	return hs.Server.Check(ctx, req)
}

func (hs healthService) List(ctx context.Context, req *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	hs.s.syncHealth()
	return hs.Server.List(ctx, req)
}

// Watch streams status changes until the client goes or the server shuts
// down: a watch must not hold up a graceful stop.
func (hs healthService) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	hs.s.syncHealth()
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-hs.s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	return hs.Server.Watch(req, watchStream{stream, ctx})
}

// watchStream is a health watch whose context also ends at Shutdown.
type watchStream struct {
	healthpb.Health_WatchServer
	ctx context.Context
}

func (w watchStream) Context() context.Context { return w.ctx }

// setHealth sets the status of the whole server and of HostService.
func (s *Server) setHealth(st healthpb.HealthCheckResponse_ServingStatus) {
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(fusionizev1.HostService_ServiceDesc.ServiceName, st)
}

// syncHealth turns the health service to NOT_SERVING once the server no
// longer serves client requests (a no-op after Shutdown).
func (s *Server) syncHealth() {
	if !s.Serving() {
		s.setHealth(healthpb.HealthCheckResponse_NOT_SERVING)
	}
}

// Drain drains the host (host.Drain: new client requests are refused,
// calls from other hosts still run) and turns the standard health service
// to NOT_SERVING, telling its watchers at once, so load balancers and
// probes send no new requests. The server keeps serving until Shutdown.
func (s *Server) Drain() {
	s.h.Drain()
	s.syncHealth()
}

// GRPCServer returns the *grpc.Server with the HostService registered.
// Register more services on it before serving, if any.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Registry returns the registry holding the server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Serve accepts gRPC connections on lis until Shutdown. It returns nil
// after a Shutdown.
func (s *Server) Serve(lis net.Listener) error {
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Serving reports whether the server accepts client requests: it is not
// shut down or shutting down, and its host is not draining (host.Drain).
func (s *Server) Serving() bool { return s.state.Load() == stateServing && !s.h.Draining() }

// Shutdown stops the server gracefully: Health and /healthz turn to
// draining, no new calls are accepted and running calls may finish. When
// ctx ends first, the remaining calls are canceled and Shutdown returns
// ctx's error. It does not close the host.
func (s *Server) Shutdown(ctx context.Context) error {
	s.state.CompareAndSwap(stateServing, stateDraining)
	s.health.Shutdown() // NOT_SERVING from now on, also to watchers
	s.stopOnce.Do(func() { close(s.stopping) })
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		err = ctx.Err()
	}
	s.state.Store(stateStopped)
	return err
}

// Invoke runs a task on the host. Trace id, parent span, caller and depth
// come from the request, overridden by the W3C traceparent/tracestate and
// fusionize-* metadata when present (a malformed traceparent is ignored).
// A call with a caller arrived from another host and is recorded as
// remote; a client request (no caller) is not. The response carries the
// trace id and the span id of the invocation.
func (s *Server) Invoke(ctx context.Context, req *fusionizev1.InvokeRequest) (*fusionizev1.InvokeResponse, error) {
	start := time.Now()
	if s.token != nil {
		if err := s.authenticate(ctx); err != nil {
			s.observe("", codes.Unauthenticated, start)
			return nil, err
		}
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	c := host.Call{
		Task:     req.GetTask(),
		Input:    req.GetInput(),
		Async:    req.GetAsync(),
		Caller:   req.GetCaller(),
		TraceID:  req.GetTraceId(),
		ParentID: req.GetParentSpanId(),
		Depth:    int(req.GetDepth()),
	}
	c.SetTraceparent(mdValue(ctx, grpctransport.MDTraceparent), mdValue(ctx, grpctransport.MDTracestate))
	c.Trigger = host.TriggerOther
	if mdValue(ctx, mdTrigger) == host.TriggerHTTP {
		c.Trigger = host.TriggerHTTP
	}
	if v := mdValue(ctx, grpctransport.MDCaller); v != "" {
		c.Caller = v
	}
	if v := mdValue(ctx, grpctransport.MDParentSpan); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			c.ParentID = n
		}
	}
	if v := mdValue(ctx, grpctransport.MDDepth); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			c.Depth = n
		}
	}
	c.Remote = c.Caller != ""
	s.h.AssignIDs(&c)
	var (
		out  []byte
		err  error
		code host.Code
	)
	if c.Depth < 0 {
		err = &host.Error{Task: c.Task, Host: s.h.Name(), Code: host.CodeBadArgument, Msg: "negative call depth " + strconv.Itoa(c.Depth)}
	} else {
		out, err = s.h.Serve(ctx, c)
	}
	if err == nil {
		s.observe(c.Task, codes.OK, start)
		return &fusionizev1.InvokeResponse{Output: out, TraceId: c.TraceID, SpanId: c.SpanID}, nil
	}
	st, code := grpctransport.ToStatus(err, c.Task, s.h.Name())
	_ = grpc.SetTrailer(ctx, metadata.Pairs(grpctransport.MDCode, strconv.Itoa(int(code))))
	task := c.Task
	if code == host.CodeUnknownTask {
		task = "" // keep unknown names out of the metric labels
	}
	s.observe(task, st.Code(), start)
	return nil, st.Err()
}

// mdValue returns the first value of key in ctx's incoming metadata.
func mdValue(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Health describes the host: serving state, name, group, setup version,
// tasks and the invocations in flight (requests being served plus accepted
// async calls still running).
func (s *Server) Health(context.Context, *fusionizev1.HealthRequest) (*fusionizev1.HealthResponse, error) {
	var version int64
	if su := s.h.Setup(); su != nil {
		version = su.Version
	}
	return &fusionizev1.HealthResponse{
		Status:       s.servingStatus(),
		Host:         s.h.Name(),
		Group:        s.h.Group(),
		SetupVersion: version,
		Tasks:        s.h.Tasks(),
		Inflight:     s.inflight.Load() + s.h.Stats().AsyncInflight,
	}, nil
}

func (s *Server) servingStatus() fusionizev1.ServingStatus {
	switch st := s.state.Load(); {
	case st == stateServing && !s.h.Draining():
		return fusionizev1.ServingStatus_SERVING_STATUS_SERVING
	case st != stateStopped:
		return fusionizev1.ServingStatus_SERVING_STATUS_DRAINING
	default:
		return fusionizev1.ServingStatus_SERVING_STATUS_NOT_SERVING
	}
}
