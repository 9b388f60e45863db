package host

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// hostFuncs are the imports of module "fusionize" with their signatures.
var hostFuncs = map[string]signature{
	"output":     {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	"call":       {[]api.ValueType{i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}},
	"call_async": {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	"call_start": {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	"call_wait":  {[]api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
	"take":       {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	"log":        {[]api.ValueType{i32, i32, i32}, nil},
	"kv_put":     {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	"kv_get":     {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	"span_begin": {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	"span_end":   {[]api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
}

const (
	// maxTruncatedError is how much of an error message over the payload
	// limit is reported.
	maxTruncatedError = 64 << 10
	maxPending        = 64
	maxKeyLen         = 1024
)

// instantiateHostModule defines module "fusionize" in the runtime.
func (h *Host) instantiateHostModule(ctx context.Context) error {
	impls := map[string]api.GoModuleFunc{
		"output":     h.fnOutput,
		"call":       h.fnCall,
		"call_async": h.fnCallAsync,
		"call_start": h.fnCallStart,
		"call_wait":  h.fnCallWait,
		"take":       h.fnTake,
		"log":        h.fnLog,
		"kv_put":     h.fnKVPut,
		"kv_get":     h.fnKVGet,
		"span_begin": h.fnSpanBegin,
		"span_end":   h.fnSpanEnd,
	}
	b := h.rt.NewHostModuleBuilder(importModule)
	for name, sig := range hostFuncs {
		b.NewFunctionBuilder().WithGoModuleFunction(impls[name], sig.params, sig.results).Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func ret(stack []uint64, v int32) { stack[0] = api.EncodeI32(v) }

// caller finds the instance that made an import call.
func (h *Host) caller(m api.Module) *instance {
	v, ok := h.instances.Load(m)
	if !ok {
		return nil
	}
	return v.(*instance)
}

func (h *Host) fnOutput(_ context.Context, m api.Module, stack []uint64) {
	inst := h.caller(m)
	if inst == nil {
		ret(stack, int32(CodeInternal))
		return
	}
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if int(n) > h.cfg.MaxPayload {
		// Refused. Keep its start: if the handler then fails, these bytes
		// were its error message, and execute reports them truncated.
		keep := min(n, uint32(min(h.cfg.MaxPayload, maxTruncatedError)))
		b, _ := inst.read(ptr, keep) // nil when out of range: nothing to keep
		inst.out = append(inst.out[:0], b...)
		inst.outLimit, inst.outLen = true, n
		ret(stack, int32(CodeTooLarge))
		return
	}
	b, ok := inst.read(ptr, n)
	if !ok {
		ret(stack, int32(CodeBadArgument))
		return
	}
	inst.out = append(inst.out[:0], b...)
	inst.outLimit = false
	ret(stack, 0)
}

// callArgs reads the task name and input of a call import.
func (h *Host) callArgs(inst *instance, stack []uint64) (name, in []byte, code Code) {
	name, ok := inst.read(uint32(stack[0]), uint32(stack[1]))
	if !ok || len(name) == 0 {
		return nil, nil, CodeBadArgument
	}
	in, ok = inst.read(uint32(stack[2]), uint32(stack[3]))
	if !ok {
		return nil, nil, CodeBadArgument
	}
	return name, in, CodeOK
}

// callPrologue finds the calling instance and reads the task name and
// input of a call import; on failure it has set the return value.
func (h *Host) callPrologue(m api.Module, stack []uint64) (inst *instance, name, in []byte, ok bool) {
	if inst = h.caller(m); inst == nil {
		ret(stack, int32(CodeInternal))
		return nil, nil, nil, false
	}
	name, in, code := h.callArgs(inst, stack)
	if code != CodeOK {
		ret(stack, int32(code))
		return nil, nil, nil, false
	}
	return inst, name, in, true
}

func (h *Host) fnCall(ctx context.Context, m api.Module, stack []uint64) {
	inst, name, in, ok := h.callPrologue(m, stack)
	if !ok {
		return
	}
	outPtr, outCap := uint32(stack[4]), uint32(stack[5])
	if err := ctx.Err(); err != nil {
		inst.hold([]byte("deadline exceeded before calling " + string(name)))
		ret(stack, int32(CodeDeadline))
		return
	}
	start := time.Now()
	caller, parent, depth := inst.current()
	c := Call{Caller: caller, Input: in, TraceID: inst.traceID, ParentID: parent, Depth: depth + 1,
		TraceState: inst.traceState, Unsampled: inst.unsampled}
	n := h.callSync(ctx, inst, name, &c, outPtr, outCap)
	inst.addWait(time.Since(start))
	ret(stack, n)
}

// callSync runs a sync call for inst and delivers its result.
func (h *Host) callSync(ctx context.Context, inst *instance, name []byte, c *Call, outPtr, outCap uint32) int32 {
	r, err := h.resolve(name)
	if err != nil {
		return inst.deliver(nil, err, 0, 0)
	}
	c.Task = r.name
	if err := h.admit(r, c); err != nil {
		return inst.deliver(nil, err, 0, 0)
	}
	out, callee, err := h.dispatch(ctx, r, c)
	inst.noteDeadline(err)
	n := inst.deliver(out, err, outPtr, outCap)
	r.done(callee)
	return n
}

func (h *Host) fnCallAsync(ctx context.Context, m api.Module, stack []uint64) {
	inst, name, in, ok := h.callPrologue(m, stack)
	if !ok {
		return
	}
	r, err := h.resolve(name)
	if err == nil {
		caller, parent, depth := inst.current()
		err = h.spawnAsync(ctx, r, Call{
			Task: r.name, Input: in, Async: true, Caller: caller,
			TraceID: inst.traceID, ParentID: parent, Depth: depth + 1,
			TraceState: inst.traceState, Unsampled: inst.unsampled,
		}, false)
	}
	if err != nil {
		ret(stack, inst.deliver(nil, err, 0, 0))
		return
	}
	ret(stack, 0)
}

func (h *Host) fnCallStart(ctx context.Context, m api.Module, stack []uint64) {
	inst, name, in, ok := h.callPrologue(m, stack)
	if !ok {
		return
	}
	if len(inst.pending) >= maxPending {
		inst.hold([]byte("more than 64 started calls in one invocation"))
		ret(stack, int32(CodeTooMany))
		return
	}
	r, err := h.resolve(name)
	if err != nil {
		ret(stack, inst.deliver(nil, err, 0, 0))
		return
	}
	caller, parent, depth := inst.current()
	c := Call{
		Task: r.name, Input: in, Caller: caller,
		TraceID: inst.traceID, ParentID: parent, Depth: depth + 1,
		TraceState: inst.traceState, Unsampled: inst.unsampled,
	}
	if err := h.admit(r, &c); err != nil {
		ret(stack, inst.deliver(nil, err, 0, 0))
		return
	}
	c.Input = append([]byte(nil), in...)
	cctx, cancel := context.WithCancel(ctx)
	p := &pendingCall{task: r.name, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		defer cancel()
		out, callee, err := h.dispatch(cctx, r, &c)
		p.out, p.err = append([]byte(nil), out...), err
		r.done(callee)
	}()
	inst.pending = append(inst.pending, p)
	ret(stack, int32(len(inst.pending)-1))
}

func (h *Host) fnCallWait(ctx context.Context, m api.Module, stack []uint64) {
	inst := h.caller(m)
	if inst == nil {
		ret(stack, int32(CodeInternal))
		return
	}
	i := int32(stack[0])
	if i < 0 || int(i) >= len(inst.pending) || inst.pending[i].waited {
		inst.hold([]byte("call_wait: unknown or already waited handle"))
		ret(stack, int32(CodeBadArgument))
		return
	}
	p := inst.pending[i]
	start := time.Now()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel()
		<-p.done
	}
	inst.addWait(time.Since(start))
	p.waited = true
	inst.noteDeadline(p.err)
	ret(stack, inst.deliver(p.out, p.err, uint32(stack[1]), uint32(stack[2])))
}

func (h *Host) fnTake(_ context.Context, m api.Module, stack []uint64) {
	inst := h.caller(m)
	if inst == nil {
		ret(stack, int32(CodeInternal))
		return
	}
	if !inst.hasHeld {
		ret(stack, 0)
		return
	}
	n := uint32(len(inst.held))
	if n <= uint32(stack[1]) {
		if n > 0 && !inst.mem.Write(uint32(stack[0]), inst.held) {
			ret(stack, int32(CodeBadArgument))
			return
		}
		inst.held = inst.held[:0]
		inst.hasHeld = false
	}
	ret(stack, int32(n))
}

func (h *Host) fnLog(ctx context.Context, m api.Module, stack []uint64) {
	inst := h.caller(m)
	if inst == nil {
		return
	}
	b, ok := inst.read(uint32(stack[1]), uint32(stack[2]))
	if !ok {
		return
	}
	level := slog.LevelInfo
	switch int32(stack[0]) {
	case 0:
		level = slog.LevelDebug
	case 2:
		level = slog.LevelWarn
	case 3:
		level = slog.LevelError
	}
	inst.logw.logLine(ctx, level, b)
}

func (h *Host) kvKey(inst *instance, ptr, n uint32) (string, int32) {
	if n == 0 || n > maxKeyLen {
		inst.hold([]byte("kv key must be 1 to 1024 bytes"))
		return "", int32(CodeBadArgument)
	}
	k, ok := inst.read(ptr, n)
	if !ok {
		return "", int32(CodeBadArgument)
	}
	return string(k), 0 // a KV serves one application (Config.KV)
}

func (h *Host) fnKVPut(ctx context.Context, m api.Module, stack []uint64) {
	inst := h.caller(m)
	if inst == nil {
		ret(stack, int32(CodeInternal))
		return
	}
	key, code := h.kvKey(inst, uint32(stack[0]), uint32(stack[1]))
	if code != 0 {
		ret(stack, code)
		return
	}
	if int(uint32(stack[3])) > h.cfg.MaxPayload {
		inst.hold([]byte("kv value exceeds the payload limit"))
		ret(stack, int32(CodeTooLarge))
		return
	}
	val, ok := inst.read(uint32(stack[2]), uint32(stack[3]))
	if !ok {
		ret(stack, int32(CodeBadArgument))
		return
	}
	if err := h.cfg.KV.Put(ctx, key, val); err != nil {
		inst.hold([]byte(err.Error()))
		ret(stack, int32(CodeInternal))
		return
	}
	ret(stack, 0)
}

func (h *Host) fnKVGet(ctx context.Context, m api.Module, stack []uint64) {
	inst := h.caller(m)
	if inst == nil {
		ret(stack, int32(CodeInternal))
		return
	}
	key, code := h.kvKey(inst, uint32(stack[0]), uint32(stack[1]))
	if code != 0 {
		ret(stack, code)
		return
	}
	val, ok, err := h.cfg.KV.Get(ctx, key)
	switch {
	case err != nil:
		ret(stack, inst.deliver(nil, err, 0, 0))
	case !ok:
		inst.hold(nil)
		ret(stack, int32(CodeNotFound))
	default:
		ret(stack, inst.deliver(val, nil, uint32(stack[2]), uint32(stack[3])))
	}
}

// fnSpanBegin is span_begin(task, in_len): a sync call to task number task
// of the caller's fused module starts inside the module. The host admits it
// as it admits a call through the host (deadline, depth, payload) and opens
// the callee's span.
func (h *Host) fnSpanBegin(ctx context.Context, m api.Module, stack []uint64) {
	inst := h.caller(m)
	if inst == nil {
		ret(stack, int32(CodeInternal))
		return
	}
	idx, inLen := uint32(stack[0]), uint32(stack[1])
	p := inst.p
	if p.abi != ABIVersionFused || idx >= uint32(len(p.tasks)) {
		inst.hold([]byte(fmt.Sprintf("span_begin: the module has no task with index %d", idx)))
		ret(stack, int32(CodeBadArgument))
		return
	}
	t := p.tasks[idx]
	running, open, table := inst.guestFrames()
	caller, parent, depth := inst.currentIn(running, open, table)
	if err := ctx.Err(); err != nil {
		inst.hold([]byte("deadline exceeded before calling " + t.name))
		ret(stack, int32(CodeDeadline))
		return
	}
	if depth+1 > h.cfg.MaxDepth {
		ret(stack, inst.deliver(nil, newError(t.name, h.cfg.Name, CodeDepth, "call from %q exceeds the maximum call depth of %d (a call cycle?)", caller, h.cfg.MaxDepth), 0, 0))
		return
	}
	if int(inLen) > h.cfg.MaxPayload {
		ret(stack, inst.deliver(nil, newError(t.name, h.cfg.Name, CodeTooLarge, "input of %d bytes exceeds the payload limit of %d bytes", inLen, h.cfg.MaxPayload), 0, 0))
		return
	}
	h.stats.invocations.Add(1)
	f := localFrame{task: t, spanID: h.newSpanID(), caller: caller, parent: parent, depth: depth + 1, direct: true, inLen: int(inLen)}
	if table {
		f.direct = open == len(inst.frames)
		w := uint64(running)
		if open == 0 {
			w |= edgeFromTop
		}
		f.edge = w<<32 | uint64(idx)
		if inst.firstSpan[idx] == 0 {
			inst.firstSpan[idx] = f.spanID
		}
	}
	f.start = time.Since(h.epoch)
	inst.frames = append(inst.frames, f)
	ret(stack, 0)
}

// fnSpanEnd is span_end(status, ptr, len): the innermost call inside the
// module returned, with status 0 and an output of len bytes, or with a
// non-zero status and the error message at ptr[0:len). The host closes
// and records its span, and words a failure as a call through the host
// words it (held for take).
func (h *Host) fnSpanEnd(_ context.Context, m api.Module, stack []uint64) {
	inst := h.caller(m)
	if inst == nil {
		ret(stack, int32(CodeInternal))
		return
	}
	n := len(inst.frames)
	if n == 0 {
		inst.hold([]byte("span_end without span_begin"))
		ret(stack, int32(CodeBadArgument))
		return
	}
	d := time.Since(h.epoch) - inst.frames[n-1].start
	f := &inst.frames[n-1]
	inst.frames = inst.frames[:n-1]
	if f.direct {
		inst.addWait(d)
	}
	status, ptr, size := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	var err error
	outBytes := 0
	switch {
	case status != 0:
		msg, ok := inst.read(ptr, min(size, uint32(min(h.cfg.MaxPayload, maxTruncatedError))))
		if !ok {
			msg = []byte("(its error message lies outside memory)")
		}
		err = newError(f.task.name, h.cfg.Name, CodeFailed, "%s", msg)
	case int(size) > h.cfg.MaxPayload:
		err = newError(f.task.name, h.cfg.Name, CodeTooLarge, "output of %d bytes exceeds the payload limit of %d bytes", size, h.cfg.MaxPayload)
	default:
		outBytes = int(size)
	}
	if inst.table.ptr != 0 {
		inst.noteSampled(f, d)
	}
	h.recordFrame(inst, f, d, outBytes, err)
	if err != nil {
		h.stats.failures.Add(1)
		ret(stack, inst.deliver(nil, err, 0, 0))
		return
	}
	ret(stack, 0)
}

// recordFrame records the span of a call that ran inside a fused module.
func (h *Host) recordFrame(inst *instance, f *localFrame, d time.Duration, outBytes int, err error) {
	c := Call{Caller: f.caller, TraceID: inst.traceID, ParentID: f.parent, Depth: f.depth}
	h.recordSpanFor(&c, f.task.name, f.spanID, h.epoch.Add(f.start), d, f.wait, false, f.inLen, outBytes, err)
}

// abandonFrames records the spans of the calls inside a fused module that
// were running when its invocation failed (a trap ends them all), with the
// invocation's error.
func (h *Host) abandonFrames(inst *instance, err error) {
	now := time.Since(h.epoch)
	for n := len(inst.frames); n > 0; n = len(inst.frames) {
		f := inst.frames[n-1]
		inst.frames = inst.frames[:n-1]
		h.recordFrame(inst, &f, now-f.start, 0, err)
	}
}
