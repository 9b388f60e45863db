package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/fusionize/fusionize/controlplane/store"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/internal/otlpenv"
	"github.com/fusionize/fusionize/proto/descriptor"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// Default listen addresses: loopback only. Expose the control plane to other
// machines deliberately, with TLS.
const (
	DefaultAddr     = "127.0.0.1:7070" // gRPC
	DefaultHTTPAddr = "127.0.0.1:7071" // REST gateway, /healthz, /metrics

	// DefaultShutdownTimeout bounds the graceful stop.
	DefaultShutdownTimeout = 5 * time.Second

	// msgOverhead is room for a message's fields beyond its largest
	// value.
	msgOverhead = 64 << 10
)

// Options configure a ControlPlane. DataDir is required; the rest defaults.
type Options struct {
	// DataDir holds the store and the token (see package store).
	DataDir string
	// App is the application name that Status reports.
	App string
	// Tasks are the app's tasks; see ServerConfig.Tasks.
	Tasks []string
	// Addr is the gRPC listen address; "" means DefaultAddr, ":0" or
	// "127.0.0.1:0" picks a free port (see ControlPlane.Addr).
	Addr string
	// HTTPAddr is the REST/health/metrics listen address; "" means
	// DefaultHTTPAddr.
	HTTPAddr string
	// TLSCertFile and TLSKeyFile, both or neither, turn on TLS for the gRPC
	// and the HTTP listener.
	TLSCertFile, TLSKeyFile string
	// MaxModuleSize bounds uploads; 0 means DefaultMaxModuleSize.
	MaxModuleSize int64
	// ModuleCacheDir is the compilation cache of the upload check
	// (ServerConfig.ModuleCacheDir); give it the hosts' cache directory.
	ModuleCacheDir string
	// ModuleInitTimeout: see ServerConfig.ModuleInitTimeout.
	ModuleInitTimeout time.Duration
	// HostTTL is how long a host counts as live; 0 means DefaultHostTTL.
	HostTTL time.Duration
	// ShutdownTimeout bounds the graceful stop; 0 means
	// DefaultShutdownTimeout. Calls still running then are cut off.
	ShutdownTimeout time.Duration
	// Store tunes the store.
	Store store.Options
	// Logger receives start and stop messages; nil means slog.Default().
	Logger *slog.Logger
	// Entry configures the transports the entry point forwards with (see
	// Entry): TLS to hosts, Lambda credentials, ID tokens for Cloud
	// Functions. The zero value: gRPC in plaintext (to any address unless
	// Entry.GRPC.TLS is set), the SDKs' defaults otherwise. The app's
	// invoke token is sent unless Entry.GRPC.InvokeToken is set.
	Entry transport.Options
}

// ControlPlane is a running control plane: the store, a gRPC server
// (ControlPlaneService, the entry point's HostService, health, reflection)
// and an HTTP server (the REST gateway of both, /healthz, /metrics). New binds the listeners; Serve serves until
// its context ends and then shuts everything down.
type ControlPlane struct {
	opts        Options
	log         *slog.Logger
	st          *store.Store
	token       string
	invokeToken string

	srv    *Server
	entry  *Entry
	mux    *transport.Mux // the entry point's transports
	health *health.Server
	grpc   *grpc.Server // public, with TLS when configured
	inner  *grpc.Server // in-memory, plaintext: the gateway's way in
	gwConn *grpc.ClientConn
	http   *http.Server

	ln, httpLn net.Listener
	innerLn    *bufconn.Listener
	// tracer exports server spans of the RPCs over OTLP when the OTEL_*
	// environment names an endpoint; nil otherwise.
	tracer *sdktrace.TracerProvider

	serveOnce sync.Once
	closeOnce sync.Once
	closeErr  error
}

// Run is New followed by Serve.
func Run(ctx context.Context, opts Options) error {
	cp, err := New(opts)
	if err != nil {
		return err
	}
	return cp.Serve(ctx)
}

// New opens the store in opts.DataDir, creates the token on first start and
// binds both listeners. Call Serve to serve, or Close to give up.
func New(opts Options) (_ *ControlPlane, err error) {
	if opts.DataDir == "" {
		return nil, errors.New("controlplane: Options.DataDir is required")
	}
	if (opts.TLSCertFile == "") != (opts.TLSKeyFile == "") {
		return nil, errors.New("controlplane: TLS needs both a certificate and a key file")
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.HTTPAddr == "" {
		opts.HTTPAddr = DefaultHTTPAddr
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	cp := &ControlPlane{opts: opts, log: opts.Logger}
	if cp.log == nil {
		cp.log = slog.Default()
	}
	defer func() {
		if err != nil {
			cp.release()
		}
	}()

	var tlsCfg *tls.Config
	if opts.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.TLSCertFile, opts.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("controlplane: load TLS key pair: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	if cp.st, err = store.OpenWith(opts.DataDir, opts.Store); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	if cp.token, err = cp.st.Token(); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	if cp.invokeToken, err = cp.st.InvokeToken(); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rpcs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fusionize_controlplane_rpcs_total",
		Help: "Control-plane RPCs served, by method and gRPC code.",
	}, []string{"method", "code"})
	reg.MustRegister(rpcs)
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "fusionize_controlplane_rpc_duration_seconds",
		Help: "Duration of control-plane RPCs served, by method and gRPC code (WatchSetup, which lasts as long as its watcher, is counted but not timed).",
		// 100 µs … 6.5 s: reads, span batches, module uploads.
		Buckets: prometheus.ExponentialBuckets(100e-6, 4, 9),
	}, []string{"method", "code"})
	reg.MustRegister(latency)
	m := rpcMetrics{count: rpcs, latency: latency}
	cp.srv = NewServer(cp.st, ServerConfig{App: opts.App, Tasks: opts.Tasks, MaxModuleSize: opts.MaxModuleSize, ModuleCacheDir: opts.ModuleCacheDir, ModuleInitTimeout: opts.ModuleInitTimeout, HostTTL: opts.HostTTL, Registerer: reg})

	eo := opts.Entry
	if eo.GRPC.InvokeToken == "" {
		eo.GRPC.InvokeToken = cp.invokeToken
	}
	if eo.GRPC.TLS == nil {
		eo.GRPC.Insecure = true
	}
	if cp.mux, err = transport.Standard(eo); err != nil {
		return nil, fmt.Errorf("controlplane: entry point: %w", err)
	}
	cp.entry = NewEntry(opts.App, cp.st, cp.mux)

	auth := policy{
		cp:     &authenticator{token: []byte(cp.token), tokenPath: TokenPath(opts.DataDir)},
		invoke: &authenticator{token: []byte(cp.invokeToken), tokenPath: InvokeTokenPath(opts.DataDir)},
	}
	serverOpts := []grpc.ServerOption{
		// A PutValue carries a value of up to store.MaxValueSize and its
		// key; an Invoke through the entry point a payload of up to the
		// hosts' default limit, which is the same.
		grpc.MaxRecvMsgSize(max(store.MaxValueSize, grpctransport.DefaultMaxPayload) + msgOverhead),
		grpc.ChainUnaryInterceptor(m.unary, auth.unary),
		grpc.ChainStreamInterceptor(m.stream, auth.stream),
	}
	if cp.tracer, err = otlpenv.Provider(context.Background(), "fusionize-controlplane", nil); err != nil {
		return nil, fmt.Errorf("controlplane: tracing: %w", err)
	}
	if cp.tracer != nil {
		// Server spans of every RPC, children of a caller's traceparent.
		serverOpts = append(serverOpts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(cp.tracer), otelgrpc.WithPropagators(propagation.TraceContext{}))))
	}
	pub := serverOpts
	if tlsCfg != nil {
		pub = append(pub, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	cp.grpc = grpc.NewServer(pub...)
	fusionizev1.RegisterControlPlaneServiceServer(cp.grpc, cp.srv)
	fusionizev1.RegisterHostServiceServer(cp.grpc, cp.entry)
	cp.health = health.NewServer()
	healthpb.RegisterHealthServer(cp.grpc, cp.health)
	if err := descriptor.RegisterReflection(cp.grpc); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}

	// The gateway reaches the service through an in-memory listener of a
	// second, plaintext gRPC server with the same interceptors: no network
	// hop, no TLS client setup, and auth still applies (the gateway
	// forwards the Authorization header as "authorization" metadata).
	cp.inner = grpc.NewServer(serverOpts...)
	fusionizev1.RegisterControlPlaneServiceServer(cp.inner, cp.srv)
	fusionizev1.RegisterHostServiceServer(cp.inner, cp.entry)
	cp.innerLn = bufconn.Listen(1 << 20)
	cp.gwConn, err = grpc.NewClient("passthrough:///controlplane",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return cp.innerLn.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("controlplane: gateway connection: %w", err)
	}
	gw := runtime.NewServeMux(runtime.WithIncomingHeaderMatcher(incomingHeader), runtime.WithOutgoingHeaderMatcher(outgoingHeader))
	if err := fusionizev1.RegisterControlPlaneServiceHandler(context.Background(), gw, cp.gwConn); err != nil {
		return nil, fmt.Errorf("controlplane: register gateway: %w", err)
	}
	if err := fusionizev1.RegisterHostServiceHandler(context.Background(), gw, cp.gwConn); err != nil {
		return nil, fmt.Errorf("controlplane: register entry point gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", cp.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/", gw)
	cp.http = &http.Server{Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second}

	if cp.ln, err = net.Listen("tcp", opts.Addr); err != nil {
		return nil, fmt.Errorf("controlplane: listen gRPC: %w", err)
	}
	if cp.httpLn, err = net.Listen("tcp", opts.HTTPAddr); err != nil {
		return nil, fmt.Errorf("controlplane: listen HTTP: %w", err)
	}
	return cp, nil
}

// Addr returns the bound gRPC address.
func (cp *ControlPlane) Addr() string { return cp.ln.Addr().String() }

// HTTPAddr returns the bound HTTP address.
func (cp *ControlPlane) HTTPAddr() string { return cp.httpLn.Addr().String() }

// Token returns the bearer token clients must send.
func (cp *ControlPlane) Token() string { return cp.token }

// InvokeToken returns the app's invoke token: hosts of the app and the
// control plane's entry point require it on HostService.Invoke, and the
// deployer hands it to hosts at start. It opens nothing of
// ControlPlaneService.
func (cp *ControlPlane) InvokeToken() string { return cp.invokeToken }

// Store returns the control plane's store, for in-process users such as the
// optimizer loop. It is closed when Serve returns.
func (cp *ControlPlane) Store() *store.Store { return cp.st }

// Entry returns the app's entry point (HostService on the control plane's
// addresses).
func (cp *ControlPlane) Entry() *Entry { return cp.entry }

// Server returns the service implementation.
func (cp *ControlPlane) Server() *Server { return cp.srv }

// healthz answers 200 while the store is open.
func (cp *ControlPlane) healthz(w http.ResponseWriter, r *http.Request) {
	if _, err := cp.st.CurrentVersion(); err != nil {
		http.Error(w, "unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// Serve serves until ctx ends or a listener fails, then stops gracefully
// (within Options.ShutdownTimeout; WatchSetup streams are ended first) and
// closes the store. It returns nil after a clean stop on ctx. Serve may be
// called once.
func (cp *ControlPlane) Serve(ctx context.Context) error {
	err := errors.New("controlplane: Serve called twice")
	cp.serveOnce.Do(func() { err = cp.serve(ctx) })
	return err
}

func (cp *ControlPlane) serve(ctx context.Context) error {
	cp.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	cp.health.SetServingStatus(fusionizev1.ControlPlaneService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Go(func() { errc <- cp.grpc.Serve(cp.ln) })
	wg.Go(func() { errc <- cp.inner.Serve(cp.innerLn) })
	wg.Go(func() {
		var err error
		if cp.http.TLSConfig != nil {
			err = cp.http.ServeTLS(cp.httpLn, "", "")
		} else {
			err = cp.http.Serve(cp.httpLn)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	})
	cp.log.Info("control plane serving", "grpc", cp.Addr(), "http", cp.HTTPAddr(),
		"tls", cp.opts.TLSCertFile != "", "token", TokenPath(cp.opts.DataDir))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		if serveErr != nil {
			serveErr = fmt.Errorf("controlplane: serve: %w", serveErr)
		}
	}
	closeErr := cp.Close()
	wg.Wait()
	cp.log.Info("control plane stopped")
	return errors.Join(serveErr, closeErr)
}

// Close stops serving (gracefully, within Options.ShutdownTimeout) and
// closes the store. Serve calls it; call it yourself only when Serve was
// never called. It is idempotent.
func (cp *ControlPlane) Close() error {
	cp.closeOnce.Do(func() {
		cp.health.Shutdown()
		cp.srv.Shutdown()
		sctx, cancel := context.WithTimeout(context.Background(), cp.opts.ShutdownTimeout)
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := cp.http.Shutdown(sctx); err != nil {
				cp.http.Close()
			}
		})
		wg.Go(func() { gracefulStop(sctx, cp.grpc) })
		wg.Go(func() { gracefulStop(sctx, cp.inner) })
		wg.Wait()
		cp.closeErr = cp.release()
	})
	return cp.closeErr
}

// gracefulStop stops s, cutting off calls still running when ctx ends.
func gracefulStop(ctx context.Context, s *grpc.Server) {
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.Stop()
		<-done
	}
}

// release frees what New acquired; it tolerates a partial New.
func (cp *ControlPlane) release() error {
	if cp.ln != nil {
		cp.ln.Close()
	}
	if cp.httpLn != nil {
		cp.httpLn.Close()
	}
	if cp.innerLn != nil {
		cp.innerLn.Close()
	}
	if cp.gwConn != nil {
		cp.gwConn.Close()
	}
	if cp.mux != nil {
		cp.mux.Close()
	}
	var err error
	if cp.tracer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if terr := cp.tracer.Shutdown(ctx); terr != nil {
			err = fmt.Errorf("controlplane: tracing: %w", terr)
		}
		cancel()
	}
	if cp.st != nil {
		return errors.Join(cp.st.Close(), err)
	}
	return err
}

// rpcMetrics count and time the RPCs served. They run first in the
// interceptor chain, so refused calls (Unauthenticated) count too.
type rpcMetrics struct {
	count   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func (m rpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	code := status.Code(err).String()
	m.count.WithLabelValues(info.FullMethod, code).Inc()
	m.latency.WithLabelValues(info.FullMethod, code).Observe(time.Since(start).Seconds())
	return resp, err
}

func (m rpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	code := status.Code(err).String()
	m.count.WithLabelValues(info.FullMethod, code).Inc()
	if info.FullMethod != fusionizev1.ControlPlaneService_WatchSetup_FullMethodName {
		m.latency.WithLabelValues(info.FullMethod, code).Observe(time.Since(start).Seconds())
	}
	return err
}

// incomingHeader passes the W3C trace context (Traceparent, Tracestate)
// and Fusionize-* request headers on as metadata of the same lowercase
// names, for the entry point; the rest as the gateway does by default.
func incomingHeader(key string) (string, bool) {
	switch k := textproto.CanonicalMIMEHeaderKey(key); {
	case k == "Traceparent", k == "Tracestate", strings.HasPrefix(k, "Fusionize-"):
		return strings.ToLower(k), true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// outgoingHeader sends fusionize-* response metadata (the entry point's
// setup version and group) as Fusionize-* headers, the rest with the
// gateway's Grpc-Metadata- prefix.
func outgoingHeader(key string) (string, bool) {
	if strings.HasPrefix(key, "fusionize-") {
		return textproto.CanonicalMIMEHeaderKey(key), true
	}
	return runtime.MetadataHeaderPrefix + key, true
}
