package lambda

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/fusionize/fusionize/api/span"
	cpclient "github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/host/transport/https"
	lambdatransport "github.com/fusionize/fusionize/host/transport/lambda"
	"github.com/fusionize/fusionize/runtime"
)

// Environment variables the runtime reads besides Lambda's own.
const (
	// EnvControlPlane is where spans go, where endpoints the package
	// does not hold are looked up and where the app's key-value store is
	// kept; "" for none of them (the store is then the host's own, in
	// memory).
	EnvControlPlane = "FUSIONIZE_CONTROL_PLANE"
	EnvToken        = "FUSIONIZE_TOKEN"
	// EnvInvokeToken is the app's invoke token, sent on gRPC calls to
	// local hosts. Calls into this function come through the Lambda Invoke
	// API, whose IAM authentication stands in for it.
	EnvInvokeToken = "FUSIONIZE_INVOKE_TOKEN"
	// EnvQueue is the Cloud Tasks queue URL async calls to groups on
	// Cloud Functions go through (Cloud Functions has no async invoke).
	EnvQueue = "FUSIONIZE_QUEUE"
)

// Options configure Run. The zero value reads everything from the
// execution environment.
type Options struct {
	// TaskRoot is the unpacked deployment package. Default
	// $LAMBDA_TASK_ROOT, else the bootstrap's directory.
	TaskRoot string
	// Host tunes the host; Name, Group, App, MemoryMB, Recorder, Transport,
	// Endpoints and CacheDir are set by Run.
	Host   host.Config
	Logger *slog.Logger
}

// Run serves the deployment package's group in this execution environment
// until ctx ends (SIGTERM) or the Runtime API goes away. An error before the
// first event is reported to the Runtime API as an init error.
func Run(ctx context.Context, opts Options) error {
	start := time.Now()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	g, err := load(ctx, opts, log)
	if err != nil {
		if rerr := ReportInitError(ctx, "Runtime.InitError", err); rerr != nil {
			log.Error("init error not reported", "err", rerr)
		}
		return err
	}
	log.Info("group loaded", "host", g.host.Name(), "tasks", g.host.Tasks(), "init", time.Since(start))
	handler := NewHandler(g.host, g.flush, log)
	if g.entries != nil {
		handler.billSpans(g.entries)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			g.close(cctx)
		})
	}
	// SIGTERM (ctx) ends the environment: spans out, host closed. Lambda
	// sends it only to runtimes with an extension registered; aws-lambda-go
	// registers one for WithEnableSIGTERM.
	go func() {
		<-ctx.Done()
		stop()
		log.Info("stopped", "host", g.host.Name())
		os.Exit(0)
	}()
	awslambda.StartWithOptions(handler.Handle, awslambda.WithContext(ctx), awslambda.WithEnableSIGTERM(stop))
	return nil
}

// group is a loaded group and what serves it.
type group struct {
	host    *host.Host
	entries *runtime.EntrySpans // holds entry spans for their CPU time and billed duration
	rep     *runtime.Reporter   // nil without a control plane
	cp      *cpclient.Client
	closers []io.Closer
}

func (g *group) flush(ctx context.Context) error {
	if g.rep != nil {
		g.rep.Flush(ctx)
	}
	return g.host.FlushTracer(ctx)
}

func (g *group) close(ctx context.Context) {
	_ = g.flush(ctx)
	_ = g.host.Close(ctx)
	for _, c := range g.closers {
		_ = c.Close()
	}
}

// load builds the host of the package's group: its modules, its routes,
// its telemetry.
func load(ctx context.Context, opts Options, log *slog.Logger) (*group, error) {
	root := opts.TaskRoot
	if root == "" {
		root = os.Getenv("LAMBDA_TASK_ROOT")
	}
	if root == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		root = filepath.Dir(exe)
	}
	cfg, err := ReadConfig(root)
	if err != nil {
		return nil, err
	}
	name := runtime.Name(cfg.Group, cfg.SetupVersion)
	// One host per execution environment: name it after the environment's
	// log stream ("2026/12/01/[3]0f1e…": the part after the version).
	if stream := os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME"); stream != "" {
		if i := strings.LastIndexByte(stream, ']'); i >= 0 && i+1 < len(stream) {
			stream = stream[i+1:]
		}
		name += "/" + stream
	}
	g := &group{}
	hc := opts.Host
	hc.Name = name
	if hc.Logger == nil {
		hc.Logger = log
	}
	if hc.PoolSize == 0 {
		// One request at a time per environment: a sync chain needs one
		// idle instance per task; async fan-outs create more.
		hc.PoolSize = 2
	}
	if hc.CacheDir, err = runtime.WritableCache(root); err != nil {
		log.Warn("no compilation cache", "err", err)
	}
	eps := host.Endpoints(host.StaticEndpoints(cfg.Endpoints))
	hc.Recorder = span.Discard
	if addr := os.Getenv(EnvControlPlane); addr != "" {
		cp, err := cpclient.Dial(ctx, addr, os.Getenv(EnvToken))
		if err != nil {
			return nil, fmt.Errorf("control plane %s: %w", addr, err)
		}
		g.cp = cp
		g.closers = append(g.closers, cp)
		// Flushed after every invocation (Handler), never in the
		// background: Lambda freezes the environment between events.
		g.rep = runtime.NewReporter(name, cp, 100_000, 1000, time.Hour, log)
		g.entries = newEntrySpans(g.rep)
		hc.Recorder = g.entries
		eps = runtime.NewRecordedEndpoints(cp, cfg.SetupVersion, cfg.Endpoints)
		if hc.KV == nil {
			hc.KV = runtime.NewControlPlaneKV(cp, cfg.App)
		}
	}
	// The caller's place the transports send: the region Lambda runs the
	// function in, else the group's place in the setup.
	place := cfg.Place()
	if region := strings.TrimSpace(os.Getenv("AWS_REGION")); region != "" {
		place = "aws/" + region
	}
	mux, err := transport.Standard(transport.Options{
		GRPC:   grpctransport.Options{MaxPayload: hc.MaxPayload, InvokeToken: os.Getenv(EnvInvokeToken)},
		Lambda: lambdatransport.Options{Place: place},
		HTTPS:  https.Options{Queue: os.Getenv(EnvQueue), Place: place},
	})
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, mux)
	h, err := runtime.NewHost(ctx, runtime.GroupConfig{
		App: cfg.App, Setup: cfg.Setup, Group: cfg.Group,
		Endpoints: eps, Transport: mux, Host: hc,
		Modules: cfg.ModulesIn(root),
	})
	if err != nil {
		for _, c := range g.closers {
			_ = c.Close()
		}
		return nil, err
	}
	g.host = h
	return g, nil
}

// InLambda reports whether the process runs in a Lambda execution
// environment (the Runtime API address is set).
func InLambda() bool { return strings.TrimSpace(os.Getenv("AWS_LAMBDA_RUNTIME_API")) != "" }
