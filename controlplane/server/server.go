package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fusionize/fusionize/controlplane/client"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/controlplane/store"
	"github.com/fusionize/fusionize/host"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Defaults of ServerConfig.
const (
	// DefaultMaxModuleSize bounds an uploaded module.
	DefaultMaxModuleSize = 64 << 20
	// DefaultHostTTL is how long a host counts as live after it last
	// registered.
	DefaultHostTTL = 30 * time.Second
	// DefaultSpanLimit is how many spans a QuerySpans page holds when the
	// request sets no limit; MaxSpanLimit caps any page (a span is ~150
	// bytes on the wire, and clients refuse messages over 4 MiB). Spans
	// past a page come in the next one (next_page_token).
	DefaultSpanLimit = 1000
	MaxSpanLimit     = 20000
)

// ServerConfig tunes a Server. The zero value gives the defaults.
type ServerConfig struct {
	// App is the application name that Status reports.
	App string
	// Tasks are the app's tasks (its manifest's): ApplySetup refuses a
	// setup that leaves one out. Nil: no such check (modules of tasks an
	// application dropped are never deleted, so they cannot tell).
	Tasks []string
	// MaxModuleSize bounds uploads; 0 means DefaultMaxModuleSize.
	MaxModuleSize int64
	// HostTTL is the liveness window of ListHosts, ListGroups and Status;
	// 0 means DefaultHostTTL.
	HostTTL time.Duration
	// Registerer receives the server's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// ModuleCacheDir is the compilation cache of the upload check (see
	// UploadModule); a host that shares it finds uploaded modules
	// compiled. Empty: compile in memory.
	ModuleCacheDir string
	// ModuleInitTimeout bounds an uploaded module's _initialize during the
	// check; 0 means the host's default (host.Config.InitTimeout).
	ModuleInitTimeout time.Duration
}

// Server implements fusionizev1.ControlPlaneServiceServer over a
// store.Store. It does no authentication: the interceptors of New (or
// UnaryAuthInterceptor and StreamAuthInterceptor) do. Handlers return
// errors mapped to gRPC codes (see toStatus).
type Server struct {
	fusionizev1.UnimplementedControlPlaneServiceServer

	st  *store.Store
	cfg ServerConfig

	stopOnce sync.Once
	stopping chan struct{} // closed by Shutdown: ends WatchSetup streams

	spansAccepted   prometheus.Counter
	spansRejected   prometheus.Counter
	modulesUploaded prometheus.Counter
}

var _ fusionizev1.ControlPlaneServiceServer = (*Server)(nil)

// NewServer returns a Server over st. The caller keeps ownership of st.
func NewServer(st *store.Store, cfg ServerConfig) *Server {
	if cfg.MaxModuleSize <= 0 {
		cfg.MaxModuleSize = DefaultMaxModuleSize
	}
	if cfg.HostTTL <= 0 {
		cfg.HostTTL = DefaultHostTTL
	}
	s := &Server{
		st:       st,
		cfg:      cfg,
		stopping: make(chan struct{}),
		spansAccepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fusionize_controlplane_spans_accepted_total",
			Help: "Spans stored from ReportSpans.",
		}),
		spansRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fusionize_controlplane_spans_rejected_total",
			Help: "Spans refused by ReportSpans as invalid.",
		}),
		modulesUploaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fusionize_controlplane_modules_uploaded_total",
			Help: "Modules stored by UploadModule.",
		}),
	}
	if r := cfg.Registerer; r != nil {
		r.MustRegister(s.spansAccepted, s.spansRejected, s.modulesUploaded,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "fusionize_controlplane_setup_version",
				Help: "Version of the current fusion setup.",
			}, func() float64 {
				v, _ := st.CurrentVersion()
				return float64(v)
			}))
	}
	return s
}

// Shutdown ends every WatchSetup stream with codes.Unavailable so that a
// graceful stop need not wait for them. Calls after the first do nothing.
func (s *Server) Shutdown() { s.stopOnce.Do(func() { close(s.stopping) }) }

// errSizeMismatch ends an upload whose bytes disagree with the header.
var errSizeMismatch = fmt.Errorf("%w: size mismatch", ErrBadRequest)

// UploadModule stores a module: a header, then chunks. The chunks stream
// through a pipe straight into the store, which hashes them into a temp
// file. Before the store keeps it, the module must load on a host: it is
// compiled with wazero, its ABI exports and imports checked, one instance
// created (its _initialize run under a deadline) and its ABI version asked,
// all by host.CheckModule, the checks every host runs. A module that fails
// is refused with InvalidArgument naming the task and the reason (ErrBadModule),
// and nothing is stored.
func (s *Server) UploadModule(stream grpc.ClientStreamingServer[fusionizev1.UploadModuleRequest, fusionizev1.UploadModuleResponse]) error {
	info, err := s.uploadModule(stream)
	if err != nil {
		return toStatus(err)
	}
	s.modulesUploaded.Inc()
	return stream.SendAndClose(&fusionizev1.UploadModuleResponse{Module: client.ModuleInfoToProto(info)})
}

func (s *Server) uploadModule(stream grpc.ClientStreamingServer[fusionizev1.UploadModuleRequest, fusionizev1.UploadModuleResponse]) (api.ModuleInfo, error) {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return api.ModuleInfo{}, fmt.Errorf("%w: upload: empty stream, want a header first", ErrBadRequest)
	}
	if err != nil {
		return api.ModuleInfo{}, err
	}
	h := first.GetHeader()
	switch {
	case h == nil:
		return api.ModuleInfo{}, fmt.Errorf("%w: upload: first message must be a header", ErrBadRequest)
	case h.GetTask() == "":
		return api.ModuleInfo{}, fmt.Errorf("%w: upload: header has no task", ErrBadRequest)
	case h.GetDigest() == "":
		return api.ModuleInfo{}, fmt.Errorf("%w: upload of task %q: header has no digest", ErrBadRequest, h.GetTask())
	case h.GetSize() < 0:
		return api.ModuleInfo{}, fmt.Errorf("%w: upload of task %q: negative size %d", ErrBadRequest, h.GetTask(), h.GetSize())
	case h.GetSize() > s.cfg.MaxModuleSize:
		return api.ModuleInfo{}, fmt.Errorf("%w: module for task %q announces %d bytes, limit %d", store.ErrTooLarge, h.GetTask(), h.GetSize(), s.cfg.MaxModuleSize)
	}
	if _, err := store.ParseDigest(h.GetDigest()); err != nil {
		return api.ModuleInfo{}, fmt.Errorf("upload of task %q: %w", h.GetTask(), err)
	}

	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(pump(stream, pw, h))
	}()
	task, fused := h.GetTask(), h.GetTasks()
	if len(fused) > 0 && task != api.FusedModuleName(fused) {
		return api.ModuleInfo{}, fmt.Errorf("%w: upload of fused module %q: the name of a fused module of %s is %q", ErrBadRequest, task, strings.Join(fused, ","), api.FusedModuleName(fused))
	}
	check := func(path string) error {
		wasm, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("check module for task %q: %w", task, err)
		}
		opts := host.CheckOptions{CacheDir: s.cfg.ModuleCacheDir, InitTimeout: s.cfg.ModuleInitTimeout}
		if len(fused) > 0 {
			err = host.CheckFusedModule(stream.Context(), fused, wasm, opts)
		} else {
			err = host.CheckModule(stream.Context(), task, wasm, opts)
		}
		if err != nil {
			return fmt.Errorf("%w %s: %w", ErrBadModule, host.Digest(wasm), err)
		}
		return nil
	}
	var info api.ModuleInfo
	if len(fused) > 0 {
		info, err = s.st.PutCheckedFusedModule(stream.Context(), task, fused, pr, h.GetDigest(), s.cfg.MaxModuleSize, check)
	} else {
		info, err = s.st.PutCheckedModule(stream.Context(), task, pr, h.GetDigest(), s.cfg.MaxModuleSize, check)
	}
	if err != nil {
		// Unblock the pump if it is writing. If it waits in Recv, it
		// ends when this handler returns and gRPC cancels the stream.
		pr.CloseWithError(err)
		return api.ModuleInfo{}, err
	}
	<-done // PutModule read to EOF, so the pump has finished
	return info, nil
}

// pump copies the chunks of an upload into w and checks them against the
// header's size (when set). Its result becomes the reader's error.
func pump(stream grpc.ClientStreamingServer[fusionizev1.UploadModuleRequest, fusionizev1.UploadModuleResponse], w io.Writer, h *fusionizev1.ModuleHeader) error {
	var n int64
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if h.GetSize() > 0 && n != h.GetSize() {
				return fmt.Errorf("%w: module for task %q: header says %d bytes, got %d", errSizeMismatch, h.GetTask(), h.GetSize(), n)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if m.GetHeader() != nil {
			return fmt.Errorf("%w: upload of task %q: a second header after %d bytes", ErrBadRequest, h.GetTask(), n)
		}
		c := m.GetChunk()
		n += int64(len(c))
		if h.GetSize() > 0 && n > h.GetSize() {
			return fmt.Errorf("%w: module for task %q: header says %d bytes, got more", errSizeMismatch, h.GetTask(), h.GetSize())
		}
		if _, err := w.Write(c); err != nil {
			return err
		}
	}
}

// ListModules lists the latest module of every task.
func (s *Server) ListModules(ctx context.Context, _ *fusionizev1.ListModulesRequest) (*fusionizev1.ListModulesResponse, error) {
	mods, err := s.st.ListModules()
	if err != nil {
		return nil, toStatus(err)
	}
	out := &fusionizev1.ListModulesResponse{Modules: make([]*fusionizev1.ModuleInfo, len(mods))}
	for i, m := range mods {
		out.Modules[i] = client.ModuleInfoToProto(m)
	}
	return out, nil
}

// GetModule streams a module in client.ChunkSize chunks; the first message also
// carries its info (and is sent even for an empty module).
func (s *Server) GetModule(req *fusionizev1.GetModuleRequest, stream grpc.ServerStreamingServer[fusionizev1.GetModuleResponse]) error {
	rc, info, err := s.st.OpenModule(req.GetDigest())
	if err != nil {
		return toStatus(err)
	}
	defer rc.Close()
	buf := make([]byte, client.ChunkSize)
	first := true
	for {
		n, err := io.ReadFull(rc, buf)
		if n > 0 || first {
			m := &fusionizev1.GetModuleResponse{Chunk: buf[:n]}
			if first {
				m.Info = client.ModuleInfoToProto(info)
				first = false
			}
			if err := stream.Send(m); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return toStatus(fmt.Errorf("read module %s: %w", req.GetDigest(), err))
		}
	}
}

// GetSetup returns a setup version, 0 for the current one.
func (s *Server) GetSetup(ctx context.Context, req *fusionizev1.GetSetupRequest) (*fusionizev1.GetSetupResponse, error) {
	if req.GetVersion() < 0 {
		return nil, toStatus(fmt.Errorf("%w: negative setup version %d", ErrBadRequest, req.GetVersion()))
	}
	su, err := s.st.Setup(req.GetVersion())
	if errors.Is(err, store.ErrNotFound) && req.GetVersion() == 0 {
		err = fmt.Errorf("no setup applied yet: %w", err)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	eps, err := s.st.Endpoints(su.Version)
	if err != nil {
		return nil, toStatus(err)
	}
	return &fusionizev1.GetSetupResponse{Setup: client.SetupToProto(su), Endpoints: client.EndpointsToProto(eps)}, nil
}

// ApplySetup validates a setup and makes it current. It refuses, with
// InvalidArgument and one message listing every problem, a setup that
// fails setup.ValidateDeployable (no groups, a group without a place, an
// empty or unnamed group, a task in two groups, …), one that leaves out a
// task of the app (ServerConfig.Tasks, from its manifest), and, once any
// module is stored, one that names a task with no module (a host could
// not load it). A refused setup changes nothing: the active setup keeps
// serving.
func (s *Server) ApplySetup(ctx context.Context, req *fusionizev1.ApplySetupRequest) (*fusionizev1.ApplySetupResponse, error) {
	v, err := s.applySetup(req)
	if err != nil {
		return nil, toStatus(err)
	}
	return &fusionizev1.ApplySetupResponse{Version: v}, nil
}

func (s *Server) applySetup(req *fusionizev1.ApplySetupRequest) (int64, error) {
	if req.GetSetup() == nil {
		return 0, fmt.Errorf("%w: apply setup: no setup", ErrBadRequest)
	}
	su := client.SetupFromProto(req.GetSetup())
	if err := s.checkSetup(su); err != nil {
		return 0, fmt.Errorf("apply setup: %w", err)
	}
	return s.st.ApplySetup(su)
}

// checkSetup returns every reason not to apply su, joined.
func (s *Server) checkSetup(su *setup.Setup) error {
	var errs []error
	if err := su.ValidateDeployable(nil); err != nil {
		errs = append(errs, err)
	}
	assigned := su.Assignment()
	var left []string
	for _, t := range s.cfg.Tasks {
		if _, ok := assigned[t]; !ok {
			left = append(left, strconv.Quote(t))
		}
	}
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s (tasks of app %q)", setup.ErrMissingTask, strings.Join(left, ", "), s.cfg.App))
	}
	mods, err := s.st.ListModules()
	if err != nil {
		return err
	}
	if len(mods) > 0 {
		known := make(map[string]bool, len(mods))
		for _, m := range mods {
			known[m.Task] = true
		}
		var noModule []string
		for _, g := range su.Groups {
			for _, t := range g.Tasks {
				if !known[t] {
					noModule = append(noModule, fmt.Sprintf("%q in group %q", t, g.Name))
				}
			}
		}
		if len(noModule) > 0 {
			errs = append(errs, fmt.Errorf("%w: no uploaded module for task %s", ErrBadRequest, strings.Join(noModule, ", ")))
		}
	}
	return joinProblems(errs)
}

// WatchSetup sends the current setup if it is newer than after_version, then
// every setup applied later, until the client leaves or the server stops. A
// slow watcher skips to the newest setup (store.WatchSetup).
func (s *Server) WatchSetup(req *fusionizev1.WatchSetupRequest, stream grpc.ServerStreamingServer[fusionizev1.WatchSetupResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel() // ends the store's watch goroutine
	ch := s.st.WatchSetup(ctx, req.GetAfterVersion())
	for {
		select {
		case su, ok := <-ch:
			if !ok {
				if err := ctx.Err(); err != nil {
					return toStatus(err)
				}
				return toStatus(fmt.Errorf("watch setup: %w", store.ErrClosed))
			}
			if err := stream.Send(&fusionizev1.WatchSetupResponse{Setup: client.SetupToProto(su)}); err != nil {
				return err
			}
		case <-s.stopping:
			return toStatus(fmt.Errorf("watch setup: %w", ErrShuttingDown))
		}
	}
}

// ReportSpans validates a batch and stores the valid spans in one
// transaction. Spans without a host get the reporting host's name. Invalid
// spans are counted, returned as rejected and dropped; they never fail the
// call.
func (s *Server) ReportSpans(ctx context.Context, req *fusionizev1.ReportSpansRequest) (*fusionizev1.ReportSpansResponse, error) {
	ok := make([]span.Span, 0, len(req.GetSpans()))
	rejected := 0
	for _, p := range req.GetSpans() {
		sp := client.SpanFromProto(p)
		if sp.Validate() != nil {
			rejected++
			continue
		}
		if sp.Host == "" {
			sp.Host = req.GetHost()
		}
		ok = append(ok, sp)
	}
	s.spansRejected.Add(float64(rejected))
	if err := s.st.AppendSpans(ok); err != nil {
		return nil, toStatus(err)
	}
	s.spansAccepted.Add(float64(len(ok)))
	return &fusionizev1.ReportSpansResponse{Accepted: int32(len(ok)), Rejected: int32(rejected)}, nil
}

// QuerySpans returns the newest spans (of one setup version, or of all when
// setup_version is 0), newest first, a page of at most MaxSpanLimit at a
// time; next_page_token continues with older spans. No span is left out:
// a client that follows the tokens sees every span of its window.
func (s *Server) QuerySpans(ctx context.Context, req *fusionizev1.QuerySpansRequest) (*fusionizev1.QuerySpansResponse, error) {
	limit := int(req.GetLimit())
	if limit <= 0 {
		limit = DefaultSpanLimit
	}
	limit = min(limit, MaxSpanLimit)
	var after []byte
	if tok := req.GetPageToken(); tok != "" {
		var err error
		if after, err = base64.RawURLEncoding.DecodeString(tok); err != nil {
			return nil, toStatus(fmt.Errorf("%w: page token: %v", ErrBadRequest, err))
		}
	}
	spans, next, err := s.st.SpanPage(req.GetSetupVersion(), after, limit)
	if errors.Is(err, store.ErrBadCursor) {
		err = fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	out := &fusionizev1.QuerySpansResponse{Spans: make([]*fusionizev1.Span, len(spans))}
	for i := range spans {
		out.Spans[i] = client.SpanToProto(&spans[i])
	}
	if next != nil {
		out.NextPageToken = base64.RawURLEncoding.EncodeToString(next)
	}
	return out, nil
}

// RegisterHost records a host's heartbeat and returns the current setup
// version.
func (s *Server) RegisterHost(ctx context.Context, req *fusionizev1.RegisterHostRequest) (*fusionizev1.RegisterHostResponse, error) {
	h := client.HostFromProto(req.GetHost())
	if h.Name == "" {
		return nil, toStatus(fmt.Errorf("%w: register host: no name", ErrBadRequest))
	}
	v, err := s.st.CurrentVersion()
	if err != nil {
		return nil, toStatus(err)
	}
	h.LastSeen = time.Time{}
	s.st.SeeHost(h)
	return &fusionizev1.RegisterHostResponse{SetupVersion: v}, nil
}

// liveHosts returns the hosts seen within HostTTL.
func (s *Server) liveHosts() []*fusionizev1.HostInfo {
	hosts := s.st.Hosts(time.Now().Add(-s.cfg.HostTTL))
	out := make([]*fusionizev1.HostInfo, len(hosts))
	for i, h := range hosts {
		out[i] = client.HostToProto(h)
	}
	return out
}

// ListHosts lists the hosts seen within HostTTL, sorted by name.
func (s *Server) ListHosts(ctx context.Context, _ *fusionizev1.ListHostsRequest) (*fusionizev1.ListHostsResponse, error) {
	return &fusionizev1.ListHostsResponse{Hosts: s.liveHosts()}, nil
}

// ListGroups lists the groups of the current setup (none before the first
// apply). The hosts serving each group are in ListHosts, by api.HostInfo.group.
func (s *Server) ListGroups(ctx context.Context, _ *fusionizev1.ListGroupsRequest) (*fusionizev1.ListGroupsResponse, error) {
	su, err := s.st.Setup(0)
	if errors.Is(err, store.ErrNotFound) {
		return &fusionizev1.ListGroupsResponse{}, nil
	}
	if err != nil {
		return nil, toStatus(err)
	}
	p := client.SetupToProto(su)
	return &fusionizev1.ListGroupsResponse{SetupVersion: p.GetVersion(), Groups: p.GetGroups()}, nil
}

// Status summarizes the control plane.
func (s *Server) Status(ctx context.Context, _ *fusionizev1.StatusRequest) (*fusionizev1.StatusResponse, error) {
	v, err := s.st.CurrentVersion()
	if err != nil {
		return nil, toStatus(err)
	}
	mods, err := s.st.ListModules()
	if err != nil {
		return nil, toStatus(err)
	}
	n, err := s.st.SpanCount()
	if err != nil {
		return nil, toStatus(err)
	}
	active, err := s.st.ActiveVersion()
	if err != nil {
		return nil, toStatus(err)
	}
	failed, reason, err := s.st.DeployFailure()
	if err != nil {
		return nil, toStatus(err)
	}
	return &fusionizev1.StatusResponse{
		FailedSetupVersion: failed,
		DeployError:        reason,
		App:                s.cfg.App,
		ActiveSetupVersion: active,
		SetupVersion:       v,
		Modules:            int64(len(mods)),
		Hosts:              int64(len(s.st.Hosts(time.Now().Add(-s.cfg.HostTTL)))),
		Spans:              n,
	}, nil
}

// ListIterations returns the optimizer's history, oldest first.
func (s *Server) ListIterations(ctx context.Context, _ *fusionizev1.ListIterationsRequest) (*fusionizev1.ListIterationsResponse, error) {
	its, err := s.st.Iterations()
	if err != nil {
		return nil, toStatus(err)
	}
	out := &fusionizev1.ListIterationsResponse{Iterations: make([]*fusionizev1.Iteration, len(its))}
	for i := range its {
		out.Iterations[i] = client.IterationToProto(&its[i])
	}
	return out, nil
}

// RecordIteration appends one step to the optimizer's history. It refuses,
// with InvalidArgument and one message listing every problem, an iteration
// that fails api.Iteration.Validate (an unknown decision, a negative index,
// latency or cost) or whose index is already recorded.
func (s *Server) RecordIteration(ctx context.Context, req *fusionizev1.RecordIterationRequest) (*fusionizev1.RecordIterationResponse, error) {
	if req.GetIteration() == nil {
		return nil, toStatus(fmt.Errorf("%w: record iteration: no iteration", ErrBadRequest))
	}
	it := client.IterationFromProto(req.GetIteration())
	var errs []error
	if err := it.Validate(); err != nil {
		errs = append(errs, err)
	}
	its, err := s.st.Iterations()
	if err != nil {
		return nil, toStatus(err)
	}
	for _, old := range its {
		if old.Index == it.Index {
			errs = append(errs, fmt.Errorf("%w %d: index already recorded (decision %q); the next free index is %d", api.ErrBadIteration, it.Index, old.Decision, nextIndex(its)))
			break
		}
	}
	if err := joinProblems(errs); err != nil {
		return nil, toStatus(fmt.Errorf("%w: record iteration: %w", ErrBadRequest, err))
	}
	if err := s.st.AppendIteration(it); err != nil {
		return nil, toStatus(err)
	}
	return &fusionizev1.RecordIterationResponse{}, nil
}

// nextIndex returns one past the largest recorded index.
func nextIndex(its []api.Iteration) int {
	n := 0
	for _, it := range its {
		n = max(n, it.Index+1)
	}
	return n
}
