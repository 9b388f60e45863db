// Package process is the runtime of a host as a local process: one host for
// one fusion group of one setup version, wired to the control plane. It is
// what `fusionize host` runs and what the local adapter starts.
//
//	err := process.Run(ctx, process.Options{
//		App: "iot", Group: "I", SetupVersion: 3,
//		ControlPlane: "127.0.0.1:7070", Token: token,
//		Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
//	})
//
// Run fetches the setup, its recorded endpoints and the group's modules from
// the control plane (by digest, verified), builds the host with
// runtime.NewHost, serves gRPC and the REST gateway with /healthz and
// /metrics (host/server), writes its ready file, registers with a heartbeat
// (for health and status only) and reports spans in batches. Calls to other
// groups go to the endpoints the deployer recorded for the setup version,
// through the transport of each endpoint's kind. When ctx ends it drains:
// it refuses new client requests, keeps serving calls from other hosts until
// it has been quiet for Options.Quiet, then stops.
//
// A host process links no bbolt, no fuser package and no emulator: its
// dependencies are api, host, runtime and the control plane's client
// (TestHostProcessLinksNoControlPlaneServerFuserOrEmulator).
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/runtime"
)

// Options configure a host process.
type Options struct {
	App          string
	Group        string
	SetupVersion int64 // 0: the control plane's current version
	ControlPlane string
	Token        string

	Listen     string // gRPC address; default 127.0.0.1:0
	HTTPListen string // REST, /healthz, /metrics; default 127.0.0.1:0
	ReadyFile  string // written with a Ready once serving
	CacheDir   string // wazero compilation cache

	// Host tunes the host; Name, Group, App, Transport, Endpoints,
	// Recorder and MemoryMB are set by Run.
	Host host.Config

	SpanBuffer    int           // spans held while the control plane is away; default 100,000
	FlushInterval time.Duration // default 200 ms
	Heartbeat     time.Duration // default 2 s
	Quiet         time.Duration // drain ends after this long without calls; default 500 ms
	DrainTimeout  time.Duration // default 30 s

	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.HTTPListen == "" {
		o.HTTPListen = "127.0.0.1:0"
	}
	if o.SpanBuffer <= 0 {
		o.SpanBuffer = 100_000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 2 * time.Second
	}
	if o.Quiet <= 0 {
		o.Quiet = 500 * time.Millisecond
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Run runs the host process until ctx ends, then drains and returns.
func Run(ctx context.Context, opts Options) error {
	opts.defaults()
	log := opts.Logger.With("group", opts.Group, "version", opts.SetupVersion)
	cp, err := client.Dial(ctx, opts.ControlPlane, opts.Token)
	if err != nil {
		return fmt.Errorf("process: control plane %s: %w", opts.ControlPlane, err)
	}
	defer cp.Close()

	su, eps, err := cp.SetupEndpoints(ctx, opts.SetupVersion)
	if err != nil {
		return fmt.Errorf("process: setup version %d: %w", opts.SetupVersion, err)
	}
	opts.SetupVersion = su.Version
	g, ok := su.Group(opts.Group)
	if !ok {
		return fmt.Errorf("process: setup version %d has no group %q", su.Version, opts.Group)
	}
	name := runtime.Name(g.Name, su.Version)

	mux, err := transport.Standard(transport.Options{GRPC: grpctransport.Options{MaxPayload: opts.Host.MaxPayload}})
	if err != nil {
		return err
	}
	defer mux.Close()

	rep := runtime.NewReporter(name, cp, opts.SpanBuffer, 1000, opts.FlushInterval, log)
	hc := opts.Host
	hc.Name, hc.Recorder = name, rep
	if hc.CacheDir == "" {
		hc.CacheDir = opts.CacheDir
	}
	if hc.Logger == nil {
		hc.Logger = log
	}
	if hc.PoolSize == 0 {
		// Keep instances warm the way a serverless platform keeps function
		// instances: up to the concurrency the host has seen (instances are
		// created on demand; this only bounds the idle ones kept).
		hc.PoolSize = 32
	}
	mods, err := controlPlaneModules(ctx, cp)
	if err != nil {
		return err
	}
	h, err := runtime.NewHost(ctx, runtime.GroupConfig{
		App: opts.App, Setup: su, Group: g.Name,
		Endpoints: runtime.NewRecordedEndpoints(cp, su.Version, eps),
		Modules:   mods, Transport: mux, Host: hc,
	})
	if err != nil {
		return err
	}
	hostClosed := false
	defer func() {
		if !hostClosed {
			_ = h.Close(context.Background())
		}
	}()

	srv, err := server.New(h, server.Options{MaxPayload: hc.MaxPayload})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("process: listen %s: %w", opts.Listen, err)
	}
	hlis, err := net.Listen("tcp", opts.HTTPListen)
	if err != nil {
		_ = lis.Close()
		return fmt.Errorf("process: listen %s: %w", opts.HTTPListen, err)
	}
	grpcAddr := lis.Addr().String()
	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	handler, err := srv.HTTPHandler(serveCtx, grpcAddr, server.HTTPOptions{})
	if err != nil {
		_ = lis.Close()
		_ = hlis.Close()
		return err
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(lis); err != nil {
			log.Error("grpc server", "err", err)
		}
	})
	wg.Go(func() {
		if err := hs.Serve(hlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	})

	info := api.HostInfo{Name: name, Group: g.Name, Address: grpcAddr, SetupVersion: su.Version, Tasks: h.Tasks()}
	if _, err := cp.RegisterHost(ctx, info); err != nil {
		log.Warn("register host", "err", err)
	}
	if opts.ReadyFile != "" {
		if err := WriteReady(opts.ReadyFile, Ready{GRPC: grpcAddr, HTTP: hlis.Addr().String()}); err != nil {
			return err
		}
	}
	log.Info("host serving", "grpc", grpcAddr, "http", hlis.Addr().String(), "tasks", h.Tasks())

	bgCtx, stopBg := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { rep.Run(bgCtx, 5*time.Second) })
	bg.Go(func() { heartbeat(bgCtx, cp, info, opts.Heartbeat, log) })

	<-ctx.Done()
	log.Info("host draining")
	h.Drain()
	deadline := time.Now().Add(opts.DrainTimeout)
	for !h.Quiet(opts.Quiet) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = hs.Shutdown(sctx)
	stopServe()
	wg.Wait()
	err = h.Close(sctx)
	hostClosed = true
	stopBg()
	bg.Wait()
	st := rep.Stats()
	log.Info("host stopped", "spans_sent", st.Sent, "spans_dropped", st.Dropped, "spans_buffered", st.Buffered)
	return err
}

// controlPlaneModules fetches modules from the control plane by the digest
// of each task's latest upload; FetchModule verifies the bytes.
func controlPlaneModules(ctx context.Context, cp *client.Client) (runtime.Modules, error) {
	mods, err := cp.Modules(ctx)
	if err != nil {
		return nil, err
	}
	digests := map[string]string{}
	for _, m := range mods {
		digests[m.Task] = m.Digest
	}
	return runtime.ModulesFunc(func(ctx context.Context, task string) ([]byte, string, error) {
		d, ok := digests[task]
		if !ok {
			return nil, "", fmt.Errorf("process: no module uploaded for task %q", task)
		}
		wasm, err := cp.FetchModule(ctx, d)
		return wasm, d, err
	}), nil
}

func heartbeat(ctx context.Context, cp *client.Client, info api.HostInfo, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if _, err := cp.RegisterHost(rctx, info); err != nil {
				log.Debug("heartbeat", "err", err)
			}
			cancel()
		}
	}
}
