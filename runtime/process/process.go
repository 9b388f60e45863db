// Package process is the runtime of a host as a local process: one host for
// one fusion group of one setup version, wired to the control plane. It is
// what `fusionize host` runs and what the local adapter starts.
//
//	err := process.Run(ctx, process.Options{
//		App: "iot", Group: "I", SetupVersion: 3,
//		ControlPlane: "127.0.0.1:7070", Token: token, InvokeToken: invokeToken,
//		Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
//	})
//
// Run fetches the setup, its recorded endpoints and the group's modules from
// the control plane (by digest, verified), builds the host with
// runtime.NewHost, serves gRPC and the REST gateway with /healthz and
// /metrics (host/server), writes its ready file, registers with a heartbeat
// (for health and status only) and reports spans in batches. Calls to other
// groups go to the endpoints the deployer recorded for the setup version,
// through the transport of each endpoint's kind. Tasks' kv_get and kv_put
// go to the app's durable store on the control plane
// (runtime.ControlPlaneKV). When ctx ends it drains: it refuses new client
// requests, keeps serving calls from other hosts until it has been quiet for
// Options.Quiet, deregisters and stops.
//
// A host that cannot reach its control plane for Options.OrphanAfter
// (DefaultOrphanAfter, 15 s: about seven failed heartbeats) counts it as
// lost: it drains the same way, finishing its in-flight work, and Run
// returns ErrOrphaned. A crashed control plane thus leaves no host running
// for long, and the local adapter of a restarted one stops any that remain
// before it deploys (adapters/local, StopOrphans).
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
	"strings"
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

// DefaultOrphanAfter is how long a host keeps serving without reaching its
// control plane before it stops: long enough to ride out a control-plane
// restart, short enough that a crashed control plane's hosts do not linger.
const DefaultOrphanAfter = 15 * time.Second

// ErrOrphaned: the host stopped because it could not reach its control
// plane for Options.OrphanAfter.
var ErrOrphaned = errors.New("process: control plane lost")

// Options configure a host process.
type Options struct {
	App          string
	Group        string
	SetupVersion int64 // 0: the control plane's current version
	ControlPlane string
	Token        string
	// InvokeToken is the app's invoke token: the host requires it on every
	// Invoke (clients and other hosts) and sends it on its own calls to
	// other hosts. Required.
	InvokeToken string

	Listen     string // gRPC address; default 127.0.0.1:0
	HTTPListen string // REST, /healthz, /metrics; default 127.0.0.1:0
	ReadyFile  string // written with a Ready once serving
	CacheDir   string // wazero compilation cache

	// Host tunes the host; Name, Group, App, Transport, Endpoints,
	// Recorder and MemoryMB are set by Run, and KV defaults to the app's
	// durable store on the control plane (runtime.ControlPlaneKV).
	Host host.Config

	SpanBuffer    int           // spans held while the control plane is away; default 100,000
	FlushInterval time.Duration // default 200 ms
	Heartbeat     time.Duration // default 2 s
	// OrphanAfter is how long heartbeats may fail in a row before the host
	// counts its control plane as lost and stops (drains and exits, as on
	// SIGTERM); default DefaultOrphanAfter.
	OrphanAfter  time.Duration
	Quiet        time.Duration // drain ends after this long without calls; default 500 ms
	DrainTimeout time.Duration // default 30 s

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
	if o.OrphanAfter <= 0 {
		o.OrphanAfter = DefaultOrphanAfter
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

// Run runs the host process until ctx ends, then drains and returns. If
// the host cannot start (its setup, its modules, its listeners), Run
// writes the reason to opts.ReadyFile (Ready.Error) before returning it.
func Run(ctx context.Context, opts Options) error {
	ready := false
	err := run(ctx, opts, &ready)
	if err != nil && !ready && opts.ReadyFile != "" {
		if werr := WriteReady(opts.ReadyFile, Ready{Error: err.Error()}); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}

func run(ctx context.Context, opts Options, ready *bool) error {
	opts.defaults()
	if opts.InvokeToken == "" {
		return errors.New("process: no invoke token: set Options.InvokeToken (fusionize host --invoke-token or $FUSIONIZE_INVOKE_TOKEN) to the app's invoke-token file in the control plane's data directory")
	}
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

	mux, err := transport.Standard(transport.Options{GRPC: grpctransport.Options{MaxPayload: opts.Host.MaxPayload, InvokeToken: opts.InvokeToken}})
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
	if hc.KV == nil {
		// The app's durable store, shared by every host of every version.
		hc.KV = runtime.NewControlPlaneKV(cp, opts.App)
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

	srv, err := server.New(h, server.Options{MaxPayload: hc.MaxPayload, InvokeToken: opts.InvokeToken, HostLabel: g.Name})
	if err != nil {
		return err
	}
	mux.Observe(srv.ObserveRemoteCall)
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

	info := api.HostInfo{Name: name, Group: g.Name, Address: grpcAddr, SetupVersion: su.Version, Tasks: h.Tasks(), MetricsAddress: hlis.Addr().String()}
	if _, err := cp.RegisterHost(ctx, info); err != nil {
		log.Warn("register host", "err", err)
	}
	if opts.ReadyFile != "" {
		if err := WriteReady(opts.ReadyFile, Ready{GRPC: grpcAddr, HTTP: hlis.Addr().String()}); err != nil {
			return err
		}
	}
	*ready = true
	log.Info("host serving", "grpc", grpcAddr, "http", hlis.Addr().String(), "tasks", h.Tasks())

	bgCtx, stopBg := context.WithCancel(context.Background())
	lost := make(chan time.Duration, 1)
	var bg sync.WaitGroup
	bg.Go(func() { rep.Run(bgCtx, 5*time.Second) })
	bg.Go(func() { heartbeat(bgCtx, cp, info, opts.Heartbeat, opts.OrphanAfter, lost, log) })

	orphaned := false
	select {
	case <-ctx.Done():
		log.Info("host draining")
	case d := <-lost:
		orphaned = true
		log.Warn("control plane lost; host draining and stopping", "control_plane", opts.ControlPlane, "unreachable_for", d.Round(time.Millisecond))
	}
	srv.Drain() // the host drains; grpc health turns NOT_SERVING
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
	if !orphaned {
		// Leave the registry now rather than after its liveness window.
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, derr := cp.DeregisterHost(dctx, name, grpcAddr); derr != nil {
			log.Warn("deregister host", "err", derr)
		}
		cancel()
	}
	st := rep.Stats()
	log.Info("host stopped", "spans_sent", st.Sent, "spans_dropped", st.Dropped, "spans_buffered", st.Buffered)
	if orphaned {
		err = errors.Join(fmt.Errorf("%w: %s unreachable for %s", ErrOrphaned, opts.ControlPlane, opts.OrphanAfter), err)
	}
	return err
}

// controlPlaneModules fetches modules from the control plane by the digest
// of each task's latest upload, and the fused module of a module-fused
// group by runtime.PickFused; FetchModule verifies the bytes.
func controlPlaneModules(ctx context.Context, cp *client.Client) (runtime.FusedModules, error) {
	mods, err := cp.Modules(ctx)
	if err != nil {
		return nil, err
	}
	digests := map[string]string{}
	for _, m := range mods {
		digests[m.Task] = m.Digest
	}
	return cpModules{cp: cp, infos: mods, digests: digests}, nil
}

type cpModules struct {
	cp      *client.Client
	infos   []api.ModuleInfo
	digests map[string]string
}

func (m cpModules) Module(ctx context.Context, task string) ([]byte, string, error) {
	d, ok := m.digests[task]
	if !ok {
		return nil, "", fmt.Errorf("process: no module uploaded for task %q", task)
	}
	wasm, err := m.cp.FetchModule(ctx, d)
	return wasm, d, err
}

func (m cpModules) Fused(ctx context.Context, tasks []string) ([]string, []byte, string, error) {
	f, ok := runtime.PickFused(m.infos, tasks)
	if !ok {
		return nil, nil, "", fmt.Errorf("process: %w uploaded for the module-fused group of %s", runtime.ErrNoFusedModule, strings.Join(tasks, ","))
	}
	wasm, err := m.cp.FetchModule(ctx, f.Digest)
	return f.Tasks, wasm, f.Digest, err
}

// heartbeat registers info every period until ctx ends. When no
// registration has succeeded for orphanAfter it sends how long on lost and
// returns.
func heartbeat(ctx context.Context, cp *client.Client, info api.HostInfo, every, orphanAfter time.Duration, lost chan<- time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := cp.RegisterHost(rctx, info)
			cancel()
			if err == nil {
				lastOK = time.Now()
				continue
			}
			log.Debug("heartbeat", "err", err)
			if d := time.Since(lastOK); d >= orphanAfter && ctx.Err() == nil {
				lost <- d
				return
			}
		}
	}
}
