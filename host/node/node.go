// Package node runs a host process: one host for one fusion group of one
// setup version, wired to the control plane. It is what `fusionize host`
// runs and what adapters start.
//
//	err := node.Run(ctx, node.Options{
//		App: "iot", Group: "I", SetupVersion: 3,
//		ControlPlane: "127.0.0.1:7070", Token: token,
//		Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
//	})
//
// Run fetches the setup and the group's modules from the control plane (by
// digest, verified), loads them, serves gRPC and the REST gateway with
// /healthz and /metrics, registers the host with a heartbeat, resolves the
// other groups of its setup version through the control plane, and reports
// spans in batches. When ctx ends it drains: it refuses new client requests,
// keeps serving calls from other hosts until it has been quiet for
// Options.Quiet, then stops.
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/remote"
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
	ReadyFile  string // written with {"grpc","http","pid"} once serving
	CacheDir   string // wazero compilation cache

	// Profile names an emulated platform profile ("" for none).
	Profile string

	// Host tunes the host; Name, Group, App, Transport, Recorder and
	// MemoryMB are set by Run.
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

// Name returns the host name of a group's host: "<group>@v<version>".
func Name(group string, version int64) string { return fmt.Sprintf("%s@v%d", group, version) }

// Run runs the host process until ctx ends, then drains and returns.
func Run(ctx context.Context, opts Options) error {
	opts.defaults()
	log := opts.Logger.With("group", opts.Group, "version", opts.SetupVersion)
	cp, err := client.Dial(ctx, opts.ControlPlane, opts.Token)
	if err != nil {
		return fmt.Errorf("node: control plane %s: %w", opts.ControlPlane, err)
	}
	defer cp.Close()

	su, err := cp.Setup(ctx, opts.SetupVersion)
	if err != nil {
		return fmt.Errorf("node: setup version %d: %w", opts.SetupVersion, err)
	}
	opts.SetupVersion = su.Version
	g, ok := su.Group(opts.Group)
	if !ok {
		return fmt.Errorf("node: setup version %d has no group %q", su.Version, opts.Group)
	}
	name := Name(g.Name, su.Version)

	resolver := &peerResolver{cp: cp, version: su.Version}
	tr, err := remote.NewTransport(remote.Options{Resolver: resolver, MaxPayload: opts.Host.MaxPayload})
	if err != nil {
		return err
	}
	defer tr.Close()
	var transport host.Transport = tr
	prof, err := LookupProfile(opts.Profile, g.Place)
	if err != nil {
		return err
	}
	if prof != nil {
		transport = prof.wrap(transport, su)
	}

	rep := NewReporter(name, cp, opts.SpanBuffer, 1000, opts.FlushInterval, log)
	hc := opts.Host
	hc.Name, hc.Group, hc.App = name, g.Name, opts.App
	hc.Transport, hc.Recorder, hc.MemoryMB = transport, rep, g.MemoryMB
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
	if prof != nil {
		prof.configure(&hc, g.MemoryMB)
	}
	h, err := host.New(ctx, hc)
	if err != nil {
		return err
	}
	hostClosed := false
	defer func() {
		if !hostClosed {
			_ = h.Close(context.Background())
		}
	}()
	if err := loadModules(ctx, cp, h, g.Tasks); err != nil {
		return err
	}
	if err := h.SetSetup(su); err != nil {
		return err
	}

	srv, err := remote.NewServer(h, remote.ServerOptions{MaxPayload: hc.MaxPayload})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("node: listen %s: %w", opts.Listen, err)
	}
	hlis, err := net.Listen("tcp", opts.HTTPListen)
	if err != nil {
		_ = lis.Close()
		return fmt.Errorf("node: listen %s: %w", opts.HTTPListen, err)
	}
	grpcAddr := lis.Addr().String()
	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	handler, err := srv.HTTPHandler(serveCtx, grpcAddr, remote.HTTPOptions{})
	if err != nil {
		_ = lis.Close()
		_ = hlis.Close()
		return err
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(lis); err != nil {
			log.Error("grpc server", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := hs.Serve(hlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()

	info := api.HostInfo{Name: name, Group: g.Name, Address: grpcAddr, SetupVersion: su.Version, Tasks: h.Tasks()}
	if _, err := cp.RegisterHost(ctx, info); err != nil {
		log.Warn("register host", "err", err)
	}
	if opts.ReadyFile != "" {
		if err := writeReady(opts.ReadyFile, grpcAddr, hlis.Addr().String()); err != nil {
			return err
		}
	}
	log.Info("host serving", "grpc", grpcAddr, "http", hlis.Addr().String(), "tasks", h.Tasks())

	bgCtx, stopBg := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		rep.Run(bgCtx, 5*time.Second)
	}()
	go func() {
		defer bg.Done()
		heartbeat(bgCtx, cp, info, opts.Heartbeat, log)
	}()

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

func loadModules(ctx context.Context, cp *client.Client, h *host.Host, tasks []string) error {
	mods, err := cp.Modules(ctx)
	if err != nil {
		return err
	}
	digests := map[string]string{}
	for _, m := range mods {
		digests[m.Task] = m.Digest
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, t := range tasks {
		d, ok := digests[t]
		if !ok {
			mu.Lock() // the loads started so far append concurrently
			errs = append(errs, fmt.Errorf("node: no module uploaded for task %q", t))
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			wasm, err := cp.FetchModule(ctx, d)
			if err == nil {
				err = h.Load(ctx, t, wasm, d)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func writeReady(path, grpcAddr, httpAddr string) error {
	data, err := json.Marshal(map[string]any{"grpc": grpcAddr, "http": httpAddr, "pid": os.Getpid()})
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("node: ready file: %w", err)
	}
	return os.Rename(tmp, path)
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

// peerResolver finds the hosts of the other groups of one setup version
// through the control plane's host registry, caching what it learned.
type peerResolver struct {
	cp      *client.Client
	version int64

	mu    sync.Mutex
	addrs map[string]string
	last  time.Time
}

func (r *peerResolver) Resolve(ctx context.Context, group string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.addrs[group]; ok {
		return a, nil
	}
	if time.Since(r.last) < 100*time.Millisecond {
		return "", fmt.Errorf("no host registered for group %q of setup version %d", group, r.version)
	}
	r.last = time.Now()
	hosts, err := r.cp.Hosts(ctx)
	if err != nil {
		return "", err
	}
	r.addrs = map[string]string{}
	for _, h := range hosts {
		if h.SetupVersion == r.version {
			r.addrs[h.Group] = h.Address
		}
	}
	if a, ok := r.addrs[group]; ok {
		return a, nil
	}
	return "", fmt.Errorf("no host registered for group %q of setup version %d", group, r.version)
}
