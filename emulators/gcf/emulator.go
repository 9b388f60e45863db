package gcf

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"

	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/emulators/netem"
)

// Options configure an Emulator. The zero value of every field but Dir is usable.
type Options struct {
	// Dir holds uploads, builds and built binaries. Required.
	Dir string
	// Project, when set, is the only project the emulator accepts.
	Project string
	// KeepAlive is how long an idle instance is kept for reuse before it is
	// reclaimed (default 15 min, as Cloud Run keeps idle instances).
	KeepAlive time.Duration
	// SandboxDelay is an emulated delay added to every cold start, standing
	// for the platform's own sandbox start (labelled emulated in reports).
	SandboxDelay time.Duration
	// ForceColdStart starts a new instance for every request and stops it after.
	ForceColdStart bool
	// PendingTimeout is how long a request waits for a free instance once
	// max_instance_count are busy before it is rejected with 429 (default 10 s).
	PendingTimeout time.Duration
	// GoCache is the GOCACHE shared by all builds (default: the caller's
	// `go env GOCACHE`, so rebuilds are fast).
	GoCache string
	// GoProxy is the GOPROXY of builds without a vendor directory (default
	// "off": only the module cache, as the machine has no network).
	GoProxy string
	// RTT is the table of round trips between places (nil: rtt.Default()). A
	// request whose caller names its place (rtt.CallerPlaceHeader) waits the
	// round trip between that place and "gcp/L" (the function's location)
	// before it is routed: an emulated figure, in Request.NetworkRTT, never
	// in the billed time (package emulators/netem).
	RTT *rtt.Table
	// Logger receives build and instance logs (default: discarded).
	Logger *slog.Logger
}

// Emulator emulates Google Cloud Functions (2nd gen): the FunctionService and
// Operations gRPC APIs, source upload, the Go build from source, and the
// Cloud Run front that serves each function from instances it starts.
type Emulator struct {
	opts Options
	log  *slog.Logger
	net  *netem.Network
	id   string // tells this emulator's instances from others' on the machine

	grpcServer *grpc.Server
	httpServer *http.Server
	grpcLn     net.Listener
	httpLn     net.Listener

	ctx    context.Context // canceled by Close: builds and starts stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // builds, reaper, servers

	mu         sync.Mutex
	functions  map[string]*function // by full name
	operations map[string]*operation
	uploads    map[string]string       // object -> path of the stored zip
	built      map[string]*buildResult // by buildKey
	pools      map[*pool]struct{}      // every revision's pool not yet closed
	opSeq      int
	requests   []Request
	closed     bool

	buildSem    chan struct{}
	goCacheOnce sync.Once
	goCacheDir  string

	closeOnce sync.Once
	closeErr  error
}

// New returns an emulator keeping its files under opts.Dir. Call Serve or
// Start to accept clients and Close to stop every instance.
func New(opts Options) (*Emulator, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: Options.Dir is required", ErrInvalidArgument)
	}
	for _, d := range []string{"uploads", "builds", "tmp"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("gcf: %w", err)
		}
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Minute
	}
	if opts.PendingTimeout <= 0 {
		opts.PendingTimeout = 10 * time.Second
	}
	if opts.GoProxy == "" {
		opts.GoProxy = "off"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var idb [3]byte
	_, _ = rand.Read(idb[:])
	e := &Emulator{
		opts: opts, log: log, net: netem.Of(opts.RTT, log), ctx: ctx, cancel: cancel, id: hex.EncodeToString(idb[:]),
		functions:  map[string]*function{},
		operations: map[string]*operation{},
		uploads:    map[string]string{},
		built:      map[string]*buildResult{},
		pools:      map[*pool]struct{}{},
		buildSem:   make(chan struct{}, 1),
	}
	e.grpcServer = grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	functionspb.RegisterFunctionServiceServer(e.grpcServer, &functionService{e: e})
	longrunningpb.RegisterOperationsServer(e.grpcServer, &operationsService{e: e})
	e.httpServer = &http.Server{Handler: e.httpHandler(), ReadHeaderTimeout: 30 * time.Second}
	return e, nil
}

// Start listens on grpcAddr and httpAddr (e.g. "127.0.0.1:0") and serves
// in the background until Close or until ctx ends (which closes it).
func (e *Emulator) Start(ctx context.Context, grpcAddr, httpAddr string) error {
	gl, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return fmt.Errorf("gcf: listen gRPC: %w", err)
	}
	hl, err := net.Listen("tcp", httpAddr)
	if err != nil {
		gl.Close()
		return fmt.Errorf("gcf: listen HTTP: %w", err)
	}
	return e.Serve(ctx, gl, hl)
}

// Serve serves the gRPC APIs on grpcLn and uploads, functions and the
// emulator's own endpoints on httpLn, in the background, until Close or
// until ctx ends (which closes the emulator).
func (e *Emulator) Serve(ctx context.Context, grpcLn, httpLn net.Listener) error {
	e.mu.Lock()
	if e.closed || e.grpcLn != nil {
		e.mu.Unlock()
		grpcLn.Close()
		httpLn.Close()
		if e.closed {
			return ErrClosed
		}
		return errors.New("gcf: Serve called twice")
	}
	e.grpcLn, e.httpLn = grpcLn, httpLn
	e.mu.Unlock()
	e.wg.Add(3)
	go func() { defer e.wg.Done(); _ = e.grpcServer.Serve(grpcLn) }()
	go func() { defer e.wg.Done(); _ = e.httpServer.Serve(httpLn) }()
	go func() { defer e.wg.Done(); e.reap() }()
	context.AfterFunc(ctx, func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = e.Close(cctx)
	})
	return nil
}

// GRPCAddr is the address of the FunctionService and Operations APIs.
func (e *Emulator) GRPCAddr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.grpcLn == nil {
		return ""
	}
	return e.grpcLn.Addr().String()
}

// HTTPAddr is the address of uploads, function URLs and /emulator/v1/.
func (e *Emulator) HTTPAddr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.httpLn == nil {
		return ""
	}
	return e.httpLn.Addr().String()
}

// Close stops serving, cancels builds and stops every instance. It is
// idempotent; later calls return the first call's result.
func (e *Emulator) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		pools := make([]*pool, 0, len(e.pools))
		for p := range e.pools {
			pools = append(pools, p)
		}
		e.mu.Unlock()
		e.cancel()
		e.grpcServer.Stop()
		errs := []error{}
		// Instances go first so that requests in flight end now.
		for _, p := range pools {
			if err := p.close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if err := e.httpServer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gcf: close HTTP: %w", err))
			e.httpServer.Close()
		}
		e.wg.Wait()
		// Pools that deploys in flight created before they saw the cancel.
		e.mu.Lock()
		pools = pools[:0]
		for p := range e.pools {
			pools = append(pools, p)
		}
		e.mu.Unlock()
		for _, p := range pools {
			if err := p.close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

func (e *Emulator) baseURL() string { return "http://" + e.HTTPAddr() }

// SetRTT makes table the round trips requests that arrive from now on wait
// by (Options.RTT).
func (e *Emulator) SetRTT(table rtt.Table) { e.net.Set(table) }
