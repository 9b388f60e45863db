package host

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
)

// Call is one invocation request as it arrives at a host: from a client, from
// another host over a transport, or from a guest.
type Call struct {
	Task     string
	Input    []byte // read during the call only; never retained
	Async    bool   // fire and forget: accepted, then run in the background
	Caller   string // calling task; "" for a client request
	TraceID  string // W3C trace id (32 lowercase hex); "" or malformed starts a new trace
	ParentID uint64 // the caller's span ID; 0 for a client request
	Depth    int    // 0 for a client request; each hop adds one
	Remote   bool   // arrived over a transport (set by servers)

	// The rest of the W3C trace context (see trace.go). SpanParent is the
	// span the call's OpenTelemetry span is a child of when that is not
	// ParentID: the caller's client span of a remote call, or an outside
	// caller's span from its traceparent.
	SpanParent uint64
	TraceState string // W3C tracestate, passed on unchanged
	Unsampled  bool   // the caller's traceparent had the sampled flag clear
	// SpanID is the span id the invocation records; 0: the host picks one
	// (Host.AssignIDs).
	SpanID       uint64
	Trigger      string // how an entry call arrived (TriggerHTTP, …); set by servers and runtimes
	InvocationID string // the platform's id of the invocation, where known (Lambda's request id)
}

// Target is where a call to another fusion group goes: the callee's group
// and the endpoint the deployer recorded for it.
type Target struct {
	Group    string
	Endpoint api.Endpoint
}

// Transport carries calls to tasks that this host does not run, over one
// invoke path (or, as host/transport.Mux, over the path of the endpoint's
// Kind). For an async call, Invoke returns once the remote side has
// accepted it. Implementations must not retain c.Input after Invoke
// returns, and should return *Error values (or errors wrapping the
// sentinels) so codes survive the trip.
type Transport interface {
	Invoke(ctx context.Context, to Target, c Call) ([]byte, error)
}

// TransportFunc adapts a function to Transport.
type TransportFunc func(ctx context.Context, to Target, c Call) ([]byte, error)

// Invoke calls f.
func (f TransportFunc) Invoke(ctx context.Context, to Target, c Call) ([]byte, error) {
	return f(ctx, to, c)
}

// Endpoints finds the endpoint of a fusion group of the host's setup
// version: the routing table, from the endpoints the deployer recorded.
// Endpoint returns an error when it knows none for the group; the host
// reports that as CodeUnavailable.
type Endpoints interface {
	Endpoint(ctx context.Context, group string) (api.Endpoint, error)
}

// ErrNoEndpoint is returned by StaticEndpoints for a group it has none for.
var ErrNoEndpoint = errors.New("no endpoint recorded for group")

// StaticEndpoints is a fixed routing table: fusion group → endpoint.
type StaticEndpoints api.Endpoints

// Endpoint returns e[group].
func (e StaticEndpoints) Endpoint(_ context.Context, group string) (api.Endpoint, error) {
	if ep, ok := e[group]; ok {
		return ep, nil
	}
	return api.Endpoint{}, fmt.Errorf("%w %q", ErrNoEndpoint, group)
}

// Host runs the tasks of one fusion group in wazero and routes their calls.
// It is safe for concurrent use.
type Host struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache

	tasksMu sync.Mutex
	tasks   map[string]*task
	pools   []*pool
	routes  atomic.Pointer[routeTable]
	setup   atomic.Pointer[setup.Setup]

	instances sync.Map // api.Module → *instance
	sem       chan struct{}
	asyncSem  chan struct{} // async calls running at once

	closeMu  sync.RWMutex
	closed   bool
	draining atomic.Bool
	active   atomic.Int64   // calls running in Serve
	lastCall atomic.Int64   // unix nanos of the last call to arrive in Serve
	inflight sync.WaitGroup // sync invocations and async calls
	asyncN   atomic.Int64

	baseCtx    context.Context // parent of async calls; canceled when Close gives up
	baseCancel context.CancelFunc

	idBase uint64
	nextID atomic.Uint64
	// epoch is the host's start; calls inside fused modules are timed
	// from it on the monotonic clock alone (time.Since of a time with a
	// monotonic reading does not read the wall clock).
	epoch time.Time

	tracePrefix [16]byte
	traceSeq    atomic.Uint64

	stats stats
}

type stats struct {
	invocations   atomic.Uint64
	failures      atomic.Uint64
	traps         atomic.Uint64
	deadlines     atomic.Uint64
	coldStarts    atomic.Uint64
	created       atomic.Uint64
	asyncAccepted atomic.Uint64
	asyncFailed   atomic.Uint64
	remoteCalls   atomic.Uint64
	logDropped    atomic.Uint64
}

// Stats is a snapshot of a host's counters.
type Stats struct {
	Invocations   uint64 // task invocations run on this host
	Failures      uint64 // invocations that failed, for any reason
	Traps         uint64 // invocations whose instance trapped or exited
	Deadlines     uint64 // invocations stopped by their deadline
	ColdStarts    uint64 // invocations that were a new instance's first (spans' Cold)
	AsyncAccepted uint64 // async calls accepted
	AsyncFailed   uint64 // accepted async calls that failed
	AsyncInflight int64  // accepted async calls still running
	RemoteCalls   uint64 // calls sent through the transport
	// LogLinesDropped counts guest log lines dropped because their
	// invocation had logged Config.MaxLogBytes.
	LogLinesDropped uint64
	Instances       int // live instances over all tasks
	// InstancesCreated counts instances instantiated (at load, for the
	// pool under concurrent load, in place of a discarded one), whether or
	// not they have served a request yet.
	InstancesCreated uint64
}

// New creates a host. Close it to release the runtime.
func New(ctx context.Context, cfg Config) (*Host, error) {
	cfg.withDefaults()
	rc := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(!cfg.DisablePreemption).
		WithMemoryLimitPages(cfg.MemoryLimitPages)
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("host: compilation cache: %w", err)
		}
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("host: compilation cache %s: %w", cfg.CacheDir, err)
		}
		cache = c
		rc = rc.WithCompilationCache(c)
	}
	h := &Host{
		cfg:   cfg,
		rt:    wazero.NewRuntimeWithConfig(ctx, rc),
		cache: cache,
		tasks: make(map[string]*task),
		sem:   make(chan struct{}, cfg.MaxConcurrent),

		asyncSem: make(chan struct{}, cfg.AsyncConcurrency),
	}
	h.baseCtx, h.baseCancel = context.WithCancel(context.Background())
	h.epoch = time.Now()
	var b [8]byte
	_, _ = rand.Read(b[:])
	h.idBase = binary.LittleEndian.Uint64(b[:]) &^ 0xffffffff
	var p [8]byte
	_, _ = rand.Read(p[:])
	hex.Encode(h.tracePrefix[:], p[:])
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.rt); err != nil {
		return nil, fmt.Errorf("host: wasi: %w", err)
	}
	if err := h.instantiateHostModule(ctx); err != nil {
		return nil, fmt.Errorf("host: host module: %w", err)
	}
	h.rebuildRoutes()
	return h, nil
}

// Name returns the host's name.
func (h *Host) Name() string { return h.cfg.Name }

// MaxPayload returns the host's payload limit in bytes (Config.MaxPayload).
func (h *Host) MaxPayload() int { return h.cfg.MaxPayload }

// MemoryLimit returns the cap on one instance's linear memory in bytes
// (Config.MemoryLimitPages). The host's total is not capped by it: each live
// instance may grow to it. The pool keeps at most Config.PoolSize idle
// instances per task and creates one for each invocation that finds none
// idle, so instances in use are bounded by the invocations running (at
// most Config.MaxConcurrent entering the host, Config.AsyncConcurrency
// queued async ones, plus the in-memory calls they make). What bounds the
// process is the platform's memory limit (Lambda's, Cloud Run's, the
// emulators' cgroup), as on a platform, where an environment over its
// memory size is killed.
func (h *Host) MemoryLimit() int64 { return int64(h.cfg.MemoryLimitPages) << 16 }

// Group returns the fusion group the host serves.
func (h *Host) Group() string { return h.cfg.Group }

// LoadFile loads the module at path as task name. A non-empty digest
// ("sha256:<hex>") must match the file's content.
func (h *Host) LoadFile(ctx context.Context, name, path, digest string) error {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("task %q: %w", name, err)
	}
	return h.load(ctx, name, path, wasm, digest)
}

// Load loads wasm as task name. A non-empty digest must match.
func (h *Host) Load(ctx context.Context, name string, wasm []byte, digest string) error {
	return h.load(ctx, name, "module of task "+name, wasm, digest)
}

func (h *Host) load(ctx context.Context, name, source string, wasm []byte, digest string) error {
	return h.loadModule(ctx, source, wasm, digest, []string{name}, false)
}

// LoadFusedFile loads the fused module at path (guest ABI version 2, built
// by guest-sdk/build.BuildFused) for the named tasks: the module must hold
// exactly those tasks. A non-empty digest must match the file's content.
func (h *Host) LoadFusedFile(ctx context.Context, tasks []string, path, digest string) error {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("fused module of %s: %w", strings.Join(tasks, ","), err)
	}
	return h.loadModule(ctx, path, wasm, digest, tasks, true)
}

// LoadFused loads wasm, a fused module, for the named tasks; see
// LoadFusedFile.
func (h *Host) LoadFused(ctx context.Context, tasks []string, wasm []byte, digest string) error {
	return h.loadModule(ctx, "fused module of "+strings.Join(tasks, ","), wasm, digest, tasks, true)
}

// loadModule compiles wasm and registers it for tasks: as the module of
// one task, or (fused) as a module that must hold exactly tasks.
func (h *Host) loadModule(ctx context.Context, source string, wasm []byte, digest string, tasks []string, fused bool) error {
	if len(tasks) == 0 {
		return fmt.Errorf("%s: %w: no tasks to load it for", source, ErrInvalidTask)
	}
	seen := make(map[string]bool, len(tasks))
	for _, name := range tasks {
		if !manifest.ValidTaskName(name) {
			return fmt.Errorf("%w: %q", ErrInvalidTask, name)
		}
		if seen[name] {
			return fmt.Errorf("%s: task %q: %w: named twice among the tasks to load", source, name, ErrDuplicate)
		}
		seen[name] = true
	}
	if h.isClosed() {
		return ErrClosed
	}
	if err := h.checkNotLoaded(tasks); err != nil {
		return err
	}
	cm, sum, err := h.compile(ctx, source, wasm, digest)
	if err != nil {
		return err
	}
	p := &pool{h: h, digest: sum, compiled: cm, source: source}
	if !fused {
		p.abi = ABIVersion
		p.tasks = []*task{{name: tasks[0], pool: p, index: -1}}
	}
	// Instantiate one instance now: it checks the ABI version, and the
	// first invocation finds it ready. That invocation still reports a
	// cold start: it is the first request of the new instance, as on a
	// serverless platform.
	inst, _, err := p.borrow(ctx)
	if err != nil {
		_ = cm.Close(ctx)
		return fmt.Errorf("%s: %w", source, err)
	}
	if fused {
		if err := h.fusedTasks(ctx, p, inst, tasks); err != nil {
			p.discard(inst)
			_ = cm.Close(ctx)
			return fmt.Errorf("%s: %w", source, err)
		}
	}
	inst.fresh = true
	p.release(inst)
	h.tasksMu.Lock()
	defer h.tasksMu.Unlock()
	for _, t := range p.tasks {
		if _, dup := h.tasks[t.name]; dup {
			p.closeIdle()
			_ = cm.Close(ctx)
			return fmt.Errorf("task %q: %w", t.name, ErrDuplicate)
		}
	}
	for _, t := range p.tasks {
		h.tasks[t.name] = t
	}
	h.pools = append(h.pools, p)
	h.rebuildRoutesLocked()
	return nil
}

func (h *Host) checkNotLoaded(tasks []string) error {
	h.tasksMu.Lock()
	defer h.tasksMu.Unlock()
	for _, name := range tasks {
		if _, dup := h.tasks[name]; dup {
			return fmt.Errorf("task %q: %w", name, ErrDuplicate)
		}
	}
	return nil
}

// fusedTasks reads the task list of the fused module of p from its probe
// instance inst and checks it against want: the same tasks, each once.
func (h *Host) fusedTasks(ctx context.Context, p *pool, inst *instance, want []string) error {
	if p.abi != ABIVersionFused {
		return fmt.Errorf("%w: module speaks ABI version %d (a module of one task), not %d (a fused module)", ErrABIVersion, p.abi, ABIVersionFused)
	}
	if err := checkExports(p.compiled.ExportedFunctions(), fusedExports); err != nil {
		return err
	}
	if _, err := inst.mod.ExportedFunction(exportTasks).Call(ctx); err != nil {
		return fmt.Errorf("%w: %s trapped: %v", ErrBadModule, exportTasks, err)
	}
	listed := strings.Split(strings.TrimSuffix(string(inst.out), "\n"), "\n")
	inst.out = inst.out[:0]
	wanted := make(map[string]bool, len(want))
	for _, n := range want {
		wanted[n] = true
	}
	seen := make(map[string]bool, len(listed))
	for i, n := range listed {
		switch {
		case !manifest.ValidTaskName(n):
			return fmt.Errorf("%w: %s lists %q, not a valid task name", ErrBadModule, exportTasks, n)
		case seen[n]:
			return fmt.Errorf("task %q: %w: the fused module holds two tasks of this name", n, ErrBadModule)
		case !wanted[n]:
			return fmt.Errorf("task %q: %w: the fused module holds it, but it is not among the tasks to load it for (%s)", n, ErrBadModule, strings.Join(want, ","))
		}
		seen[n] = true
		p.tasks = append(p.tasks, &task{name: n, pool: p, index: int32(i)})
	}
	for _, n := range want {
		if !seen[n] {
			return fmt.Errorf("task %q: %w: the fused module does not hold it (it holds %s)", n, ErrMissingTask, strings.Join(listed, ","))
		}
	}
	inst.t = p.tasks[0]
	return nil
}

// Tasks returns the names of the loaded tasks, sorted.
func (h *Host) Tasks() []string {
	h.tasksMu.Lock()
	defer h.tasksMu.Unlock()
	out := make([]string, 0, len(h.tasks))
	for n := range h.tasks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Digest returns the digest of a loaded task's module.
func (h *Host) Digest(task string) (string, bool) {
	h.tasksMu.Lock()
	defer h.tasksMu.Unlock()
	t, ok := h.tasks[task]
	if !ok {
		return "", false
	}
	return t.pool.digest, true
}

// SetSetup switches routing to s. Calls already running finish on the
// routes they started with. A nil s routes every loaded task locally and
// everything else through the transport.
func (h *Host) SetSetup(s *setup.Setup) error {
	if s != nil {
		if err := s.Validate(nil); err != nil {
			return err
		}
		s = s.Clone()
	}
	h.setup.Store(s)
	h.rebuildRoutes()
	return nil
}

// Setup returns the setup the host routes by, or nil.
func (h *Host) Setup() *setup.Setup { return h.setup.Load() }

// routeTable maps task names to where they run, for one setup version.
type routeTable struct {
	version int64
	routes  map[string]*route
}

type route struct {
	name     string
	local    *task  // nil: remote
	group    string // the callee's group
	memoryMB int
}

func (h *Host) rebuildRoutes() {
	h.tasksMu.Lock()
	defer h.tasksMu.Unlock()
	h.rebuildRoutesLocked()
}

func (h *Host) rebuildRoutesLocked() {
	s := h.setup.Load()
	rt := &routeTable{routes: make(map[string]*route)}
	if s == nil {
		for n, t := range h.tasks {
			rt.routes[n] = &route{name: n, local: t, group: h.cfg.Group, memoryMB: h.cfg.MemoryMB}
		}
	} else {
		rt.version = s.Version
		for _, g := range s.Groups {
			for _, n := range g.Tasks {
				r := &route{name: n, group: g.Name, memoryMB: g.MemoryMB}
				if g.Name == h.cfg.Group {
					r.local = h.tasks[n]
				}
				rt.routes[n] = r
			}
		}
	}
	h.routes.Store(rt)
}

// resolve finds where task name runs.
func (h *Host) resolve(name []byte) (*route, error) {
	rt := h.routes.Load()
	if r, ok := rt.routes[string(name)]; ok {
		if r.local == nil && r.group == h.cfg.Group {
			return nil, newError(string(name), h.cfg.Name, CodeUnavailable, "assigned to this host's group %q but not loaded", r.group)
		}
		return r, nil
	}
	return nil, newError(string(name), h.cfg.Name, CodeUnknownTask, "no such task in setup version %d", rt.version)
}

// Invoke runs task with input as a client request and returns its output.
func (h *Host) Invoke(ctx context.Context, task string, input []byte) ([]byte, error) {
	return h.Serve(ctx, Call{Task: task, Input: input})
}

// Serve runs a call that arrived from outside the host: a client request or
// a call from another host. Async calls return once accepted. The output is
// the caller's to keep.
func (h *Host) Serve(ctx context.Context, c Call) ([]byte, error) {
	if c.Caller == "" && h.draining.Load() {
		return nil, newError(c.Task, h.cfg.Name, CodeUnavailable, "host is draining: send new requests to the current setup's hosts")
	}
	if !h.enter() {
		return nil, newError(c.Task, h.cfg.Name, CodeUnavailable, "host is shutting down")
	}
	defer h.inflight.Done()
	h.active.Add(1)
	defer h.active.Add(-1)
	h.lastCall.Store(time.Now().UnixNano())
	if dl, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.Timeout)
		defer cancel()
	} else if m := min(h.cfg.DeadlineMargin, time.Until(dl)/10); m > 0 {
		// End the call before the caller's deadline, so the caller gets
		// this host's answer, which names the task, rather than its own
		// deadline's.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-m))
		defer cancel()
	}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, newError(c.Task, h.cfg.Name, CodeDeadline, "waiting for a free slot: %v", ctx.Err())
	}
	defer func() { <-h.sem }()
	h.AssignIDs(&c)
	r, err := h.resolve([]byte(c.Task))
	if err != nil {
		return nil, err
	}
	c.Task = r.name
	if c.Async {
		return nil, h.spawnAsync(ctx, r, c, true)
	}
	if err := h.admit(r, &c); err != nil {
		return nil, err
	}
	out, inst, err := h.dispatch(ctx, r, &c)
	res := append([]byte(nil), out...)
	r.done(inst)
	return res, err
}

// enter registers an invocation unless the host is closed.
func (h *Host) enter() bool {
	h.closeMu.RLock()
	defer h.closeMu.RUnlock()
	if h.closed {
		return false
	}
	h.inflight.Add(1)
	return true
}

func (h *Host) isClosed() bool {
	h.closeMu.RLock()
	defer h.closeMu.RUnlock()
	return h.closed
}

// newTraceID returns a W3C trace id (32 lowercase hex digits): the host's
// random 64-bit prefix and a counter. Unique per host run and cheap (one
// allocation); it need not be unpredictable.
func (h *Host) newTraceID() string {
	var b [32]byte
	copy(b[:16], h.tracePrefix[:])
	n := h.traceSeq.Add(1)
	const digits = "0123456789abcdef"
	for i := 31; i >= 16; i-- {
		b[i] = digits[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

// runLocal runs c on an instance of t. On success it returns the instance,
// which the caller must release after reading out (a view of the instance's
// output buffer). On failure the instance is already discarded or released.
func (h *Host) runLocal(ctx context.Context, t *task, c *Call) (*instance, []byte, error) {
	start := time.Now()
	h.stats.invocations.Add(1)
	inst, cold, err := t.pool.borrow(ctx)
	if err != nil {
		h.stats.failures.Add(1)
		h.record(c, t.name, start, 0, cold, 0, err)
		return nil, nil, err
	}
	if cold {
		h.stats.coldStarts.Add(1)
	}
	inst.t = t
	inst.depth = c.Depth
	inst.traceID, inst.traceState, inst.unsampled = c.TraceID, c.TraceState, c.Unsampled
	inst.spanID = c.SpanID
	if inst.spanID == 0 {
		inst.spanID = h.newSpanID()
	}
	inst.logw.begin(t.name, c.TraceID)
	h.armTable(inst)
	out, err := h.execute(ctx, inst, c.Input)
	if n := inst.waitPending(); n > 0 && err == nil {
		err = newError(t.name, h.cfg.Name, CodeFailed, "returned with %d started calls not waited for", n)
	}
	inst.logw.end()
	if err != nil {
		h.stats.failures.Add(1)
		h.abandonFrames(inst, err)
		h.flushTable(inst)
		h.recordInst(c, inst, t.name, start, cold, 0, err)
		if isTrap(err) {
			t.pool.discard(inst)
		} else {
			t.pool.release(inst)
		}
		return nil, nil, err
	}
	h.flushTable(inst)
	h.recordInst(c, inst, t.name, start, cold, len(out), nil)
	return inst, out, nil
}

// trapError marks errors after which an instance must not be reused.
type trapError struct{ e *Error }

func (e trapError) Error() string { return e.e.Error() }
func (e trapError) Unwrap() error { return e.e }

func isTrap(err error) bool {
	var t trapError
	return errors.As(err, &t)
}

// execute writes input into the instance and runs its handler.
func (h *Host) execute(ctx context.Context, inst *instance, input []byte) ([]byte, error) {
	t := inst.t
	ptr := inst.inPtr
	if !inst.hasIn || uint32(len(input)) > inst.inCap {
		// The region from the last fusionize_alloc is too small (or there
		// is none): ask for a new one. The ABI lets the host reuse a region
		// for later inputs that fit, which saves a call per invocation.
		inst.stack[0] = uint64(len(input))
		if err := inst.alloc.CallWithStack(ctx, inst.stack); err != nil {
			return nil, h.callFailure(ctx, inst, exportAlloc, err)
		}
		ptr = uint32(inst.stack[0])
		if ptr == 0 && len(input) > 0 {
			return nil, newError(t.name, h.cfg.Name, CodeTooLarge, "%s(%d) returned 0: the guest is out of memory", exportAlloc, len(input))
		}
		inst.inPtr, inst.inCap, inst.hasIn = ptr, uint32(len(input)), true
	}
	if len(input) > 0 && !inst.mem.Write(ptr, input) {
		return nil, trapError{newError(t.name, h.cfg.Name, CodeBadArgument, "%s(%d) returned %#x, outside its memory", exportAlloc, len(input), ptr)}
	}
	fn, name := inst.handle, exportHandle
	if t.index >= 0 {
		inst.stack[0], inst.stack[1], inst.stack[2] = uint64(t.index), uint64(ptr), uint64(len(input))
		fn, name = inst.handleTask, exportHandleTask
	} else {
		inst.stack[0], inst.stack[1] = uint64(ptr), uint64(len(input))
	}
	if err := fn.CallWithStack(ctx, inst.stack); err != nil {
		return nil, h.callFailure(ctx, inst, name, err)
	}
	switch status := uint32(inst.stack[0]); {
	case inst.outLimit && status != 0:
		// The refused bytes were the error message: report its start.
		return nil, newError(t.name, h.cfg.Name, CodeFailed, "%s… (error message of %d bytes truncated to %d: it exceeds the payload limit of %d bytes)", inst.out, inst.outLen, len(inst.out), h.cfg.MaxPayload)
	case inst.outLimit:
		return nil, newError(t.name, h.cfg.Name, CodeTooLarge, "output of %d bytes exceeds the payload limit of %d bytes", inst.outLen, h.cfg.MaxPayload)
	case status == 0:
		return inst.out, nil
	default:
		return nil, newError(t.name, h.cfg.Name, CodeFailed, "%s", inst.out)
	}
}

// callFailure classifies an error from calling into a guest. A trap the Go
// runtime announced on stderr ("fatal error: out of memory") is reported
// with that cause rather than as the bare trap.
func (h *Host) callFailure(ctx context.Context, inst *instance, fn string, err error) error {
	t := inst.t
	if running, open, ok := inst.guestFrames(); ok && open > 0 && open != len(inst.frames) && int(running) < len(inst.p.tasks) {
		// It stopped inside a call the fused module only counted: its
		// span table says which task ran.
		t = inst.p.tasks[running]
		fn = fmt.Sprintf("%s (in a call inside the fused module, from task %q)", fn, inst.t.name)
	} else if n := len(inst.frames); n > 0 {
		// It stopped inside a call that stayed in the fused module: the
		// task running then is the one to name.
		t = inst.frames[n-1].task
		fn = fmt.Sprintf("%s (in a call inside the fused module, from task %q)", fn, inst.t.name)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			h.stats.deadlines.Add(1)
			if e := inst.calleeDeadline; e != nil {
				// The deadline passed while a sync callee ran: it is the
				// one that ran out of time, not this task.
				return trapError{&Error{Task: e.Task, Host: e.Host, Code: CodeDeadline, Msg: fmt.Sprintf("%s (in a sync call from task %q)", e.Msg, t.name)}}
			}
			return trapError{newError(t.name, h.cfg.Name, CodeDeadline, "stopped by its deadline")}
		case sys.ExitCodeContextCanceled:
			h.stats.deadlines.Add(1)
			return trapError{newError(t.name, h.cfg.Name, CodeDeadline, "canceled: %v", context.Cause(ctx))}
		}
		h.stats.traps.Add(1)
		if msg := h.fatalMessage(inst); msg != "" {
			return trapError{newError(t.name, h.cfg.Name, CodeFailed, "%s (exited with code %d in %s)", msg, exit.ExitCode(), fn)}
		}
		return trapError{newError(t.name, h.cfg.Name, CodeFailed, "exited with code %d in %s", exit.ExitCode(), fn)}
	}
	h.stats.traps.Add(1)
	if msg := h.fatalMessage(inst); msg != "" {
		return trapError{newError(t.name, h.cfg.Name, CodeFailed, "%s (trapped in %s: %v)", msg, fn, err)}
	}
	return trapError{newError(t.name, h.cfg.Name, CodeFailed, "trapped in %s: %v", fn, err)}
}

// fatalMessage describes the fatal error the guest's runtime wrote before
// it trapped or exited, "" for none. Out of memory names the instance's
// memory cap and what the instance had grown to.
func (h *Host) fatalMessage(inst *instance) string {
	fatal, detail := inst.logw.fatalError()
	if fatal == "" {
		return ""
	}
	if !strings.Contains(fatal, "out of memory") {
		return fatal
	}
	msg := fmt.Sprintf("out of memory: the instance grew to %d MiB of its %d MiB memory cap",
		inst.mem.Size()>>20, h.MemoryLimit()>>20)
	if detail != "" {
		msg += "; " + detail
	}
	return msg
}

// admit checks a call against the host's limits before it is dispatched or
// accepted: the call depth and the payload size. Every entry path (Serve,
// the call imports, async acceptance) calls it once.
func (h *Host) admit(r *route, c *Call) error {
	if c.Depth > h.cfg.MaxDepth {
		return newError(r.name, h.cfg.Name, CodeDepth, "call from %q exceeds the maximum call depth of %d (a call cycle?)", c.Caller, h.cfg.MaxDepth)
	}
	if len(c.Input) > h.cfg.MaxPayload {
		return newError(r.name, h.cfg.Name, CodeTooLarge, "input of %d bytes exceeds the payload limit of %d bytes", len(c.Input), h.cfg.MaxPayload)
	}
	return nil
}

// dispatch is the one place that decides where an admitted call runs: in
// memory when its task is loaded here, else through the transport at the
// endpoint of the callee's group. An in-memory output is a view of the
// instance's buffer, valid until the caller passes inst to r.done.
func (h *Host) dispatch(ctx context.Context, r *route, c *Call) (out []byte, inst *instance, err error) {
	if r.local != nil {
		inst, out, err = h.runLocal(ctx, r.local, c)
		return out, inst, err
	}
	out, err = h.remote(ctx, r, c)
	return out, nil, err
}

// done returns the instance a dispatch ran on (nil for none) to its pool.
func (r *route) done(inst *instance) {
	if inst != nil {
		r.local.pool.release(inst)
	}
}

// remote sends c to the callee's group through the transport, at the
// endpoint the routing table gives for the group.
func (h *Host) remote(ctx context.Context, r *route, c *Call) ([]byte, error) {
	if h.cfg.Transport == nil || h.cfg.Endpoints == nil {
		return nil, newError(r.name, h.cfg.Name, CodeUnavailable, "in group %q, and this host has no transport or endpoints", r.group)
	}
	ep, err := h.cfg.Endpoints.Endpoint(ctx, r.group)
	if err != nil {
		var he *Error
		if errors.As(err, &he) {
			return nil, he
		}
		return nil, newError(r.name, h.cfg.Name, CodeUnavailable, "no endpoint for group %q of setup version %d: %v", r.group, h.routes.Load().version, err)
	}
	h.stats.remoteCalls.Add(1)
	return h.sendRemote(ctx, Target{Group: r.group, Endpoint: ep}, c)
}

// spawnAsync accepts an async call and runs it in the background. An async
// invocation that arrived from outside (queued) waits in the host's async
// line; one a running task makes is part of that task's work and starts at
// once. The call
// is detached from the caller's cancellation but not from host shutdown.
func (h *Host) spawnAsync(ctx context.Context, r *route, c Call, queued bool) error {
	if err := h.admit(r, &c); err != nil {
		return err
	}
	if h.asyncN.Add(1) > int64(h.cfg.MaxAsync) {
		h.asyncN.Add(-1)
		return newError(r.name, h.cfg.Name, CodeTooMany, "more than %d async calls running", h.cfg.MaxAsync)
	}
	if c.Caller != "" {
		// Called from a running invocation, which holds the in-flight count
		// above zero: accept even while closing, so that Close drains the
		// whole tree of work a request started.
		h.inflight.Add(1)
	} else if !h.enter() {
		h.asyncN.Add(-1)
		return newError(r.name, h.cfg.Name, CodeUnavailable, "host is shutting down")
	}
	h.stats.asyncAccepted.Add(1)
	c.Input = append([]byte(nil), c.Input...)
	c.Async = true
	go func() {
		defer h.inflight.Done()
		defer h.asyncN.Add(-1)
		actx, cancel := context.WithTimeout(h.baseCtx, h.cfg.Timeout)
		defer cancel()
		var err error
		if queued {
			select {
			case h.asyncSem <- struct{}{}:
				defer func() { <-h.asyncSem }()
			case <-actx.Done():
				err = newError(r.name, h.cfg.Name, CodeDeadline, "async call waited in line past its deadline")
			}
		}
		if err != nil {
			h.record(&c, r.name, time.Now(), 0, false, 0, err)
		} else {
			var inst *instance
			_, inst, err = h.dispatch(actx, r, &c)
			r.done(inst)
			if err != nil && r.local == nil {
				// The callee never ran: record the failed delivery so the
				// loss is visible in the spans.
				c.Remote = true
				h.record(&c, r.name, time.Now(), 0, false, 0, err)
			}
		}
		if err != nil {
			h.stats.asyncFailed.Add(1)
			h.cfg.Logger.Warn("async call failed", "task", r.name, "caller", c.Caller, "trace", c.TraceID, "err", err)
		}
	}()
	return nil
}

func (h *Host) recordInst(c *Call, inst *instance, task string, start time.Time, cold bool, outBytes int, err error) {
	var wait time.Duration
	var id uint64
	if inst != nil {
		wait, id = inst.wait, inst.spanID
	}
	h.recordSpan(c, task, id, start, wait, cold, len(c.Input), outBytes, err)
}

func (h *Host) record(c *Call, task string, start time.Time, wait time.Duration, cold bool, outBytes int, err error) {
	id := c.SpanID
	if id == 0 {
		id = h.newSpanID()
	}
	h.recordSpan(c, task, id, start, wait, cold, len(c.Input), outBytes, err)
}

func (h *Host) recordSpan(c *Call, task string, id uint64, start time.Time, wait time.Duration, cold bool, inBytes, outBytes int, err error) {
	h.recordSpanFor(c, task, id, start, time.Since(start), wait, cold, inBytes, outBytes, err)
}

func (h *Host) recordSpanFor(c *Call, task string, id uint64, start time.Time, d, wait time.Duration, cold bool, inBytes, outBytes int, err error) {
	s := span.Span{
		TraceID:      c.TraceID,
		ID:           id,
		ParentID:     c.ParentID,
		Caller:       c.Caller,
		Task:         task,
		Async:        c.Async,
		Remote:       c.Remote,
		Group:        h.cfg.Group,
		Host:         h.cfg.Name,
		SetupVersion: h.routes.Load().version,
		Start:        start,
		Duration:     d,
		Wait:         min(wait, d),
		MemoryMB:     h.cfg.MemoryMB,
		Cold:         cold,
		InputBytes:   inBytes,
		OutputBytes:  outBytes,
	}
	if err != nil {
		s.Err = err.Error()
	}
	h.cfg.Recorder.Record(s)
	if h.cfg.Tracer != nil {
		h.cfg.Tracer.Span(s, SpanContext{
			Parent: c.spanParent(), TraceState: c.TraceState, Unsampled: c.Unsampled,
			Trigger: c.Trigger, InvocationID: c.InvocationID,
		})
	}
}

// Drain makes the host refuse new client requests (calls without a caller)
// with CodeUnavailable while it keeps serving calls from other hosts, so
// requests that already started elsewhere can finish. Use Quiet to learn
// when it is idle, then Close.
func (h *Host) Drain() { h.draining.Store(true) }

// Draining reports whether Drain was called.
func (h *Host) Draining() bool { return h.draining.Load() }

// Quiet reports whether no call is running (sync or async) and none arrived
// within the last d.
func (h *Host) Quiet(d time.Duration) bool {
	if h.active.Load() != 0 || h.asyncN.Load() != 0 {
		return false
	}
	return time.Since(time.Unix(0, h.lastCall.Load())) >= d
}

// Stats returns a snapshot of the host's counters.
func (h *Host) Stats() Stats {
	s := Stats{
		Invocations:   h.stats.invocations.Load(),
		Failures:      h.stats.failures.Load(),
		Traps:         h.stats.traps.Load(),
		Deadlines:     h.stats.deadlines.Load(),
		ColdStarts:    h.stats.coldStarts.Load(),
		AsyncAccepted: h.stats.asyncAccepted.Load(),
		AsyncFailed:   h.stats.asyncFailed.Load(),
		AsyncInflight: h.asyncN.Load(),
		RemoteCalls:   h.stats.remoteCalls.Load(),

		LogLinesDropped:  h.stats.logDropped.Load(),
		InstancesCreated: h.stats.created.Load(),
	}
	h.tasksMu.Lock()
	for _, p := range h.pools {
		p.mu.Lock()
		s.Instances += p.live
		p.mu.Unlock()
	}
	h.tasksMu.Unlock()
	return s
}

// Close stops accepting calls, waits for running invocations and accepted
// async calls to finish (or ctx to end, which cancels them), and releases
// the runtime. It returns ctx's error if it had to cancel work.
func (h *Host) Close(ctx context.Context) error {
	h.closeMu.Lock()
	if h.closed {
		h.closeMu.Unlock()
		return nil
	}
	h.closed = true
	h.closeMu.Unlock()

	done := make(chan struct{})
	go func() {
		h.inflight.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("host %s: close: %w (%d async calls canceled)", h.cfg.Name, ctx.Err(), h.asyncN.Load())
		h.baseCancel()
		<-done
	}
	h.baseCancel()
	h.tasksMu.Lock()
	for _, p := range h.pools {
		p.closeIdle()
	}
	h.tasksMu.Unlock()
	if cerr := h.rt.Close(context.Background()); cerr != nil && err == nil {
		err = cerr
	}
	if h.cache != nil {
		if cerr := h.cache.Close(context.Background()); cerr != nil && err == nil {
			err = cerr
		}
	}
	if sd, ok := h.cfg.Tracer.(interface{ Shutdown(context.Context) error }); ok {
		// Export the spans the tracer still holds.
		if serr := sd.Shutdown(ctx); serr != nil && err == nil {
			err = fmt.Errorf("host %s: tracer: %w", h.cfg.Name, serr)
		}
	}
	return err
}
