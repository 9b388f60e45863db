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
// compiles the group's modules and a warm request does not. Invocations are
// POSTs of the invocation envelope (package wire) carrying the task, its
// input, the caller, the depth, the deadline and the trace context (or a
// W3C traceparent header); answers are a wire.Response, or an error status
// with an https.ErrorBody whose reason is the host's error code (Handler).
//
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
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	cpclient "github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/node"
	"github.com/fusionize/fusionize/host/transport/https"
)

// Environment variables the runtime reads besides Cloud Run's own (PORT,
// K_SERVICE, K_REVISION).
const (
	EnvControlPlane = "FUSIONIZE_CONTROL_PLANE" // where spans go; "" keeps none
	EnvToken        = "FUSIONIZE_TOKEN"
	EnvQueue        = "FUSIONIZE_QUEUE"     // Cloud Tasks queue URL of async calls to other groups
	EnvIDTokens     = "FUSIONIZE_ID_TOKENS" // "1": send Google ID tokens to https:// functions
	EnvSourceDir    = "FUSIONIZE_SOURCE_DIR"
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
	Host     *host.Host
	Handler  *Handler
	reporter *node.Reporter
	cp       *cpclient.Client
	https    *https.Transport
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
	log.Info("group loaded", "host", fn.Host.Name(), "tasks", fn.Host.Tasks(), "init", time.Since(start))
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
	var su setup.Setup
	if err := json.Unmarshal(cfg.Setup, &su); err != nil {
		return nil, fmt.Errorf("gcf source: setup: %w", err)
	}
	if _, ok := su.Group(cfg.Group); !ok {
		return nil, fmt.Errorf("gcf source: setup version %d has no group %q", su.Version, cfg.Group)
	}
	fn := &Function{}
	name := hostName(cfg.Group, cfg.SetupVersion)
	hc := opts.Host
	hc.Name, hc.Group, hc.App, hc.MemoryMB = name, cfg.Group, cfg.App, cfg.MemoryMB
	if hc.Logger == nil {
		hc.Logger = log
	}
	if hc.PoolSize == 0 {
		// One request at a time per instance (concurrency 1): one idle
		// instance per task is enough for a sync chain.
		hc.PoolSize = 2
	}
	if addr := os.Getenv(EnvControlPlane); addr != "" {
		fn.cp, err = cpclient.Dial(ctx, addr, os.Getenv(EnvToken))
		if err != nil {
			return nil, fmt.Errorf("control plane %s: %w", addr, err)
		}
		fn.reporter = node.NewReporter(name, fn.cp, 100_000, 1000, time.Hour, log)
		hc.Recorder = fn.reporter
	} else {
		hc.Recorder = span.Discard
	}
	hc.Transport = opts.Transport
	if hc.Transport == nil {
		res := &resolver{version: cfg.SetupVersion, cp: fn.cp, static: api.Endpoints{}}
		if len(cfg.Endpoints) > 0 {
			if err := json.Unmarshal(cfg.Endpoints, &res.static); err != nil {
				fn.close()
				return nil, fmt.Errorf("gcf source: endpoints: %w", err)
			}
		}
		to := https.Options{Resolver: res, Queue: os.Getenv(EnvQueue)}
		if os.Getenv(EnvIDTokens) == "1" {
			to.IDTokens = https.GoogleIDTokens()
		}
		fn.https = https.New(to)
		hc.Transport = fn.https
	}
	h, err := host.New(ctx, hc)
	if err != nil {
		fn.close()
		return nil, err
	}
	fn.Host = h
	for _, m := range cfg.Modules {
		if err := h.LoadFile(ctx, m.Task, filepath.Join(dir, filepath.FromSlash(m.Path)), m.Digest); err != nil {
			_ = fn.Close(ctx)
			return nil, err
		}
	}
	if err := h.SetSetup(&su); err != nil {
		_ = fn.Close(ctx)
		return nil, err
	}
	var flush func(context.Context) error
	if fn.reporter != nil {
		flush = func(ctx context.Context) error {
			fn.reporter.Flush(ctx)
			return nil
		}
	}
	fn.Handler = NewHandler(h, flush, log)
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
	if f.https != nil {
		_ = f.https.Close()
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

// resolver finds other groups' endpoints: those of the source, then the
// URL the control plane's host registry lists for the group in this setup
// version (the adapter registers each function it deploys there).
type resolver struct {
	version int64
	cp      *cpclient.Client
	static  api.Endpoints

	mu     sync.Mutex
	cached api.Endpoints
	last   time.Time
}

func (r *resolver) Resolve(ctx context.Context, group string) (api.Endpoint, error) {
	if ep, ok := r.static[group]; ok {
		return ep, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ep, ok := r.cached[group]; ok {
		return ep, nil
	}
	if r.cp == nil {
		return api.Endpoint{}, fmt.Errorf("no endpoint for group %q in the source, and no control plane to ask", group)
	}
	if time.Since(r.last) < 100*time.Millisecond {
		return api.Endpoint{}, fmt.Errorf("no endpoint registered for group %q of setup version %d", group, r.version)
	}
	hosts, err := r.cp.Hosts(ctx)
	if err != nil {
		return api.Endpoint{}, fmt.Errorf("group %q: host registry: %w", group, err)
	}
	r.last = time.Now()
	r.cached = api.Endpoints{}
	for _, h := range hosts {
		if h.SetupVersion != r.version || !(strings.HasPrefix(h.Address, "https://") || strings.HasPrefix(h.Address, "http://")) {
			continue
		}
		r.cached[h.Group] = api.Endpoint{Kind: api.KindHTTPS, URL: h.Address}
	}
	if ep, ok := r.cached[group]; ok {
		return ep, nil
	}
	return api.Endpoint{}, fmt.Errorf("no endpoint registered for group %q of setup version %d", group, r.version)
}
