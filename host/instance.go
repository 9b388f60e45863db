package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// pool is one compiled module with its pool of instances. A module of one
// task (ABI version 1) serves that task; a fused module (version 2) serves
// several, and each of its instances runs any of them.
type pool struct {
	h        *Host
	digest   string
	compiled wazero.CompiledModule
	abi      int32   // the ABI version the module speaks
	tasks    []*task // the tasks it serves; for version 2 in the module's index order
	source   string  // names the module in errors

	mu   sync.Mutex
	idle []*instance
	live int
}

// task is one loaded task: a module of its own, or an entry of a fused
// module.
type task struct {
	name  string
	pool  *pool
	index int32 // its index in a fused module; -1 for a module of one task
}

// localFrame is a sync call that stays inside a fused module (span_begin
// to span_end): the host's record of it while it runs.
type localFrame struct {
	task   *task
	spanID uint64
	// Its caller's name, span and the call's depth, as span_begin found
	// them; direct: the caller is the frame below it (or the invocation),
	// not a call the guest ran unsampled, so its wait includes this call.
	caller string
	parent uint64
	depth  int
	direct bool
	edge   uint64        // the call's edge in the span table (edgeStat.key)
	start  time.Duration // since Host.epoch: the monotonic clock only
	wait   time.Duration
	inLen  int
}

// instance is one reactor instance of a task. It runs one invocation at a
// time; the fields below the line describe the invocation in progress.
type instance struct {
	p          *pool
	t          *task // the task of the invocation in progress
	mod        api.Module
	mem        api.Memory
	alloc      api.Function
	handle     api.Function
	handleTask api.Function // fusionize_handle_task of a fused module
	stack      []uint64
	logw       *logWriter // its stdout, stderr and log import

	// The input region from the last fusionize_alloc.
	inPtr, inCap uint32
	hasIn        bool

	// fresh: instantiated ahead of demand (at load) and never used; its
	// first invocation is the cold one, as a new environment's first
	// request is on a platform.
	fresh bool

	// The invocation in progress.
	depth   int
	traceID string
	spanID  uint64
	// traceState and unsampled: the rest of the trace context, passed on
	// to the calls the invocation makes.
	traceState string
	unsampled  bool
	wait       time.Duration
	out        []byte // last bytes passed to output
	held       []byte // bytes waiting for take
	hasHeld    bool
	pending    []*pendingCall
	outLimit   bool   // output was refused as too large
	outLen     uint32 // the refused output's length
	// calleeDeadline is the deadline error of the last sync callee stopped
	// by the deadline: the task to blame if the deadline stops this one too.
	calleeDeadline *Error
	// frames are the calls inside a fused module running now, innermost
	// last: the task running is the last frame's, or t when there is none.
	frames []localFrame

	// table is the fused module's span table (spantable.go); edges and
	// firstSpan describe the invocation's sampled calls inside the
	// module: the time of each edge, and each task's first span.
	table     spanTable
	edges     []edgeStat
	firstSpan []uint64
}

// pendingCall is a sync call started with call_start.
type pendingCall struct {
	task   string
	done   chan struct{}
	out    []byte
	err    error
	waited bool
	cancel context.CancelFunc
}

// borrow returns an idle instance or creates one; cold reports creation.
func (t *pool) borrow(ctx context.Context) (inst *instance, cold bool, err error) {
	t.mu.Lock()
	if n := len(t.idle); n > 0 {
		inst = t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		cold := inst.fresh
		inst.fresh = false
		return inst, cold, nil
	}
	t.live++
	t.mu.Unlock()
	inst, err = t.instantiate(ctx)
	if err != nil {
		t.mu.Lock()
		t.live--
		t.mu.Unlock()
		return nil, true, err
	}
	return inst, true, nil
}

// release returns inst to the pool, or closes it when the pool is full. A
// pool keeps Config.PoolSize idle instances per task it serves: a fused
// module's one pool stands in for its tasks' pools, and an invocation that
// fans out inside it holds as many instances at once as the same tasks
// would hold as modules of their own.
func (t *pool) release(inst *instance) {
	inst.reset()
	t.mu.Lock()
	if len(t.idle) < t.h.cfg.PoolSize*len(t.tasks) && !t.h.isClosed() {
		t.idle = append(t.idle, inst)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.discard(inst)
}

// discard closes inst for good: after a trap, a deadline, or when the pool
// is full.
func (t *pool) discard(inst *instance) {
	t.h.instances.Delete(inst.mod)
	// A module closed by its context is already closed; closing again is harmless.
	_ = inst.mod.Close(context.Background())
	t.mu.Lock()
	t.live--
	t.mu.Unlock()
}

// closeIdle closes every idle instance.
func (t *pool) closeIdle() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, inst := range idle {
		t.discard(inst)
	}
}

func (t *pool) instantiate(ctx context.Context) (*instance, error) {
	h := t.h
	name := t.label()
	logw := newLogWriter(h.cfg.Logger, name, h.cfg.MaxLogBytes, &h.stats.logDropped)
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(exportInitialize).
		WithStdout(logw).
		WithStderr(logw).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(cryptoRand{})
	ictx, cancel := context.WithTimeout(experimental.WithMemoryAllocator(ctx, memoryAllocator()), h.cfg.InitTimeout)
	defer cancel()
	mod, err := h.rt.InstantiateModule(ictx, t.compiled, cfg)
	if err != nil {
		return nil, classifyInstantiate(ctx, name, h.cfg.Name, h.cfg.InitTimeout, err)
	}
	inst := &instance{
		p:          t,
		mod:        mod,
		mem:        mod.Memory(),
		alloc:      mod.ExportedFunction(exportAlloc),
		handle:     mod.ExportedFunction(exportHandle),
		handleTask: mod.ExportedFunction(exportHandleTask),
		stack:      make([]uint64, 3),
		out:        make([]byte, 0, 1024),
		logw:       logw,
		frames:     make([]localFrame, 0, 8),
	}
	// What _initialize logged is the instance's own, not an invocation's.
	logw.end()
	v, err := mod.ExportedFunction(exportABIVersion).Call(ctx)
	if err != nil {
		_ = mod.Close(ctx)
		return nil, newError(name, h.cfg.Name, CodeInternal, "%s trapped: %v", exportABIVersion, err)
	}
	got := int32(v[0])
	if t.abi == 0 && (got == ABIVersion || got == ABIVersionFused) {
		t.abi = got // the probe instance of a module being loaded
	}
	if got == ABIVersionFused && t.abi == ABIVersion {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("task %q: %w: module speaks ABI version %d, host speaks 1 for a module of one task (version 2 is a fused module of several tasks: load it with LoadFused)", name, ErrABIVersion, got)
	}
	if got != t.abi {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("task %q: %w: module speaks ABI version %d, host speaks %d and %d", name, ErrABIVersion, got, ABIVersion, ABIVersionFused)
	}
	if len(t.tasks) > 0 {
		inst.t = t.tasks[0]
	}
	if t.abi == ABIVersionFused {
		if err := t.openTable(ctx, inst); err != nil {
			_ = mod.Close(ctx)
			return nil, err
		}
	}
	h.stats.created.Add(1)
	h.instances.Store(mod, inst)
	return inst, nil
}

// label names the pool's module in errors and logs: its task, or its
// tasks comma-separated, or its source while none is known.
func (t *pool) label() string {
	if len(t.tasks) == 0 {
		return t.source
	}
	var b []byte
	for i, tk := range t.tasks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, tk.name...)
	}
	return string(b)
}

// classifyInstantiate names what stopped an instantiation; ctx is the
// caller's context, without the init deadline.
func classifyInstantiate(ctx context.Context, task, host string, limit time.Duration, err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			if ctx.Err() == nil {
				return newError(task, host, CodeDeadline, "%s did not return within %s (the instantiation deadline)", exportInitialize, limit)
			}
			return newError(task, host, CodeDeadline, "deadline exceeded while initializing an instance")
		case sys.ExitCodeContextCanceled:
			return newError(task, host, CodeDeadline, "canceled while initializing an instance")
		}
		return newError(task, host, CodeFailed, "initialization exited with code %d", exit.ExitCode())
	}
	return newError(task, host, CodeFailed, "instantiate: %v", err)
}

// reset clears the state of the finished invocation.
func (inst *instance) reset() {
	inst.out = inst.out[:0]
	inst.held = inst.held[:0]
	inst.hasHeld = false
	inst.wait = 0
	inst.traceID, inst.traceState, inst.unsampled = "", "", false
	inst.outLimit = false
	inst.calleeDeadline = nil
	inst.frames = inst.frames[:0]
	for i := range inst.pending {
		inst.pending[i] = nil
	}
	inst.pending = inst.pending[:0]
	// Drop large buffers so an idle instance doesn't pin a big payload.
	if cap(inst.out) > 1<<20 {
		inst.out = make([]byte, 0, 1024)
	}
	if cap(inst.held) > 1<<20 {
		inst.held = nil
	}
}

// read returns a view of guest memory, or false if out of range.
func (inst *instance) read(ptr, n uint32) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	return inst.mem.Read(ptr, n)
}

// hold keeps b for a later take.
func (inst *instance) hold(b []byte) {
	inst.held = append(inst.held[:0], b...)
	inst.hasHeld = true
}

// deliver writes a call's result to the guest's buffer or holds it, and
// returns the ABI return value.
func (inst *instance) deliver(out []byte, err error, outPtr, outCap uint32) int32 {
	if err != nil {
		inst.hold([]byte(err.Error()))
		return int32(CodeOf(err))
	}
	if uint32(len(out)) <= outCap {
		if len(out) > 0 && !inst.mem.Write(outPtr, out) {
			return int32(CodeBadArgument)
		}
		return int32(len(out))
	}
	inst.hold(out)
	return int32(len(out))
}

// noteDeadline keeps err if it is a sync callee's deadline error.
func (inst *instance) noteDeadline(err error) {
	if err == nil {
		return
	}
	var e *Error
	if errors.As(err, &e) && e.Code == CodeDeadline {
		inst.calleeDeadline = e
	}
}

// waitPending cancels and waits for started calls the guest did not wait
// for, and reports how many there were.
func (inst *instance) waitPending() int {
	n := 0
	for _, p := range inst.pending {
		if p == nil || p.waited {
			continue
		}
		n++
		p.cancel()
		<-p.done
	}
	return n
}

// current returns the task running now in inst (the innermost call inside
// a fused module, or the invocation's task), its span and its call depth.
func (inst *instance) current() (task string, spanID uint64, depth int) {
	running, open, ok := inst.guestFrames()
	return inst.currentIn(running, open, ok)
}

// currentIn is current given what guestFrames returned.
func (inst *instance) currentIn(running uint32, open int, table bool) (task string, spanID uint64, depth int) {
	if table && open != len(inst.frames) && int(running) < len(inst.p.tasks) {
		// A call the guest did not sample is running: the host has no
		// frame of it, the guest's table says which task it is.
		return inst.p.tasks[running].name, inst.spanOf(running), inst.depth + open
	}
	if n := len(inst.frames); n > 0 {
		f := &inst.frames[n-1]
		return f.task.name, f.spanID, inst.depth + n
	}
	return inst.t.name, inst.spanID, inst.depth
}

// addWait adds d, time spent waiting for a callee, to the task running now.
func (inst *instance) addWait(d time.Duration) {
	if n := len(inst.frames); n > 0 {
		inst.frames[n-1].wait += d
		return
	}
	inst.wait += d
}
