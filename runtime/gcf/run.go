// Package gcf is how a Fusionize host runs as a Google Cloud Function (2nd
// gen, on Cloud Run): an HTTP function for functions-framework-go that
// serves one fusion group. The function's source (Source, laid out as
// Layout says) is a Go module whose root package registers the function
// in init; Google's Go buildpack generates the main package around it:
//
//	package function
//
//	func init() {
//		functions.HTTP(gcf.EntryPoint, gcf.Start(gcf.Options{}))
//	}
//
// Start loads the group from the data files in the function's source
// directory (fusionize.json and modules/, in the working directory the
// platform starts the function in) once per instance, so a cold start
// loads the group's modules and a warm request does not. The modules load
// from wazero's compilation cache the source carries (cache/, written by
// the packager for linux/amd64; a copy in $TMPDIR where the source is
// read-only); where it misses (another CPU, no cache shipped) wazero
// compiles them, and the "group loaded" log line counts them (compiled). Invocations are
// POSTs of the invocation envelope (package wire) carrying the task, its
// input, the caller, the depth, the deadline and the trace context (or a
// W3C traceparent header); answers are a wire.Response, or an error status
// with an https.ErrorBody whose reason is the host's error code (Handler).
//
// The app's key-value store (kv_get, kv_put) is the control plane's durable
// one when $FUSIONIZE_CONTROL_PLANE is set (runtime.ControlPlaneKV).
// Spans go to the control plane at $FUSIONIZE_CONTROL_PLANE (bearer token
// $FUSIONIZE_TOKEN) and are flushed before each answer, after the
// invocation's in-memory async work has finished: request-based billing
// gives an instance CPU only while a request is open. Calls to tasks of
// other groups go over HTTPS (host/transport/https) to the endpoints in
// fusionize.json or, failing that, to the URL the control plane's host
// registry lists for the group in this setup version; async ones through
// the queue at $FUSIONIZE_QUEUE. On SIGTERM (Cloud Run gives 10 s before it
// kills an instance) the host drains, finishes what runs, flushes and
// exits.
package gcf

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/span"
	cpclient "github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/host/transport/https"
	lambdatransport "github.com/fusionize/fusionize/host/transport/lambda"
	"github.com/fusionize/fusionize/runtime"
)

// Environment variables the runtime reads besides Cloud Run's own (PORT,
// K_SERVICE, K_REVISION).
const (
	EnvControlPlane = "FUSIONIZE_CONTROL_PLANE" // where spans and kv_put go; "" keeps spans nowhere, values in memory
	EnvToken        = "FUSIONIZE_TOKEN"
	// EnvInvokeToken is the app's invoke token, sent on gRPC calls to
	// local hosts; calls into the function carry Google ID tokens instead.
	EnvInvokeToken = "FUSIONIZE_INVOKE_TOKEN"
	EnvQueue       = "FUSIONIZE_QUEUE"     // Cloud Tasks queue URL of async calls to other groups
	EnvIDTokens    = "FUSIONIZE_ID_TOKENS" // "1": send Google ID tokens to https:// functions
	EnvSourceDir   = "FUSIONIZE_SOURCE_DIR"
	// EnvPlace is where the function runs ("gcp/us-east4"; Cloud Run's
	// environment names no region); the transports send it as the caller's
	// place on each call (api/rtt.CallerPlaceHeader). Unset: the group's
	// place in the setup, if it names a region.
	EnvPlace = "FUSIONIZE_PLACE"
)

// Options configure Start and Load. The zero value reads everything from
// the execution environment.
type Options struct {
	// SourceDir holds fusionize.json and modules/. Default
	// $FUSIONIZE_SOURCE_DIR, else the working directory (/workspace on
	// Cloud Run, where the buildpack leaves the source).
	SourceDir string
	// Host tunes the host; Name, Group, App, MemoryMB, Recorder and
	// Transport are set by Load.
	Host   host.Config
	Logger *slog.Logger
	// Transport carries calls to other groups. Nil: an https.Transport
	// over the source's endpoints and the control plane's registry.
	Transport host.Transport
}

// Function is a loaded group, ready to serve.
type Function struct {
	Host *host.Host
	// Compiled counts the modules wazero compiled at load because the
	// source's compilation cache did not hold them (none shipped, or one
	// written by another wazero build or for another CPU).
	Compiled int
	Handler  *Handler
	reporter *runtime.Reporter
	entries  *runtime.EntrySpans // nil without a control plane
	cp       *cpclient.Client
	mux      *transport.Mux
}

// Start loads the group and returns the HTTP function serving it, and
// drains and flushes on SIGTERM. If the group does not load, the function
// answers every request with CodeUnavailable and the load error, so the
// deployer's first request reports why.
func Start(opts Options) http.HandlerFunc {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
		opts.Logger = log
	}
	start := time.Now()
	fn, err := Load(context.Background(), opts)
	if err != nil {
		log.Error("group did not load", "err", err)
		return failing(hostName("", 0), err)
	}
	log.Info("group loaded", "host", fn.Host.Name(), "tasks", fn.Host.Tasks(), "init", time.Since(start), "compiled", fn.Compiled)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		err := fn.Close(ctx)
		log.Info("stopped on SIGTERM", "host", fn.Host.Name(), "err", err)
		os.Exit(0)
	}()
	return fn.Handler.ServeHTTP
}

// Load builds the host of the source's group: its modules, its setup, its
// telemetry and its transport.
func Load(ctx context.Context, opts Options) (*Function, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	dir := opts.SourceDir
	if dir == "" {
		dir = os.Getenv(EnvSourceDir)
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		dir = wd
	}
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	fn := &Function{}
	name := hostName(cfg.Group, cfg.SetupVersion)
	hc := opts.Host
	hc.Name = name
	if hc.Logger == nil {
		hc.Logger = log
	}
	if hc.PoolSize == 0 {
		// One request at a time per instance (concurrency 1): one idle
		// instance per task is enough for a sync chain.
		hc.PoolSize = 2
	}
	if hc.CacheDir == "" {
		if hc.CacheDir, err = runtime.WritableCache(dir); err != nil {
			log.Warn("no compilation cache", "err", err)
		}
	}
	cached := runtime.CacheEntries(hc.CacheDir)
	if addr := os.Getenv(EnvControlPlane); addr != "" {
		fn.cp, err = cpclient.Dial(ctx, addr, os.Getenv(EnvToken))
		if err != nil {
			return nil, fmt.Errorf("control plane %s: %w", addr, err)
		}
		fn.reporter = runtime.NewReporter(name, fn.cp, 100_000, 1000, time.Hour, log)
		fn.entries = runtime.NewEntrySpans(fn.reporter, nil)
		hc.Recorder = fn.entries
		if hc.KV == nil {
			hc.KV = runtime.NewControlPlaneKV(fn.cp, cfg.App)
		}
	} else {
		hc.Recorder = span.Discard
	}
	known := cfg.Endpoints
	if known == nil {
		known = api.Endpoints{}
	}
	var routes host.Endpoints = host.StaticEndpoints(known)
	if fn.cp != nil {
		routes = runtime.NewRecordedEndpoints(fn.cp, cfg.SetupVersion, known)
	}
	tr := opts.Transport
	if tr == nil {
		// Every invoke path: a group on Cloud Functions may call groups on
		// Lambda and local hosts as well as other functions.
		place := placeOf(cfg)
		to := https.Options{Queue: os.Getenv(EnvQueue), Place: place}
		if os.Getenv(EnvIDTokens) == "1" {
			to.IDTokens = https.MetadataIDTokens(https.MetadataServer, nil)
		}
		fn.mux, err = transport.Standard(transport.Options{HTTPS: to, GRPC: grpctransport.Options{InvokeToken: os.Getenv(EnvInvokeToken)}, Lambda: lambdatransport.Options{Place: place}})
		if err != nil {
			fn.close()
			return nil, err
		}
		tr = fn.mux
	}
	h, err := runtime.NewHost(ctx, runtime.GroupConfig{
		App: cfg.App, Setup: cfg.Setup, Group: cfg.Group, Endpoints: routes, Transport: tr, Host: hc,
		Modules: cfg.ModulesIn(dir),
	})
	if err != nil {
		fn.close()
		return nil, err
	}
	fn.Host = h
	fn.Compiled = max(runtime.CacheEntries(hc.CacheDir)-cached, 0)
	flush := func(ctx context.Context) error {
		if fn.reporter != nil {
			fn.reporter.Flush(ctx)
		}
		return h.FlushTracer(ctx)
	}
	fn.Handler = NewHandler(h, flush, log)
	fn.Handler.entries = fn.entries
	return fn, nil
}

// Close drains the host, waits for what runs, flushes spans and releases
// the function.
func (f *Function) Close(ctx context.Context) error {
	var err error
	if f.Host != nil {
		f.Host.Drain()
		for !f.Host.Quiet(0) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		err = f.Host.Close(ctx)
	}
	if f.reporter != nil {
		f.reporter.Flush(ctx)
	}
	f.close()
	return err
}

func (f *Function) close() {
	if f.mux != nil {
		_ = f.mux.Close()
	}
	if f.cp != nil {
		_ = f.cp.Close()
	}
}

// hostName names the host "<group>@v<version>/<revision>" after the Cloud
// Run revision serving it.
func hostName(group string, version int64) string {
	name := fmt.Sprintf("%s@v%d", group, version)
	if group == "" {
		name = "gcf"
	}
	if rev := os.Getenv("K_REVISION"); rev != "" {
		name += "/" + rev
	}
	return name
}

// placeOf is where the function runs: EnvPlace, else the group's place.
func placeOf(cfg Config) string {
	if p := strings.TrimSpace(os.Getenv(EnvPlace)); p != "" {
		return p
	}
	return cfg.Place()
}
