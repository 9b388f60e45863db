//go:build wasip1

package task

import (
	"fmt"
	"runtime/debug"
	"unsafe"
)

// The guest ABI versions this SDK implements: a module of one task speaks
// version 1, a fused module (one that called Bind) version 2.
const (
	abiVersion      = 1
	abiVersionFused = 2
)

//go:wasmimport fusionize output
func hostOutput(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport fusionize call
func hostCall(taskPtr unsafe.Pointer, taskLen uint32, inPtr unsafe.Pointer, inLen uint32, outPtr unsafe.Pointer, outCap uint32) int32

//go:wasmimport fusionize call_async
func hostCallAsync(taskPtr unsafe.Pointer, taskLen uint32, inPtr unsafe.Pointer, inLen uint32) int32

//go:wasmimport fusionize call_start
func hostCallStart(taskPtr unsafe.Pointer, taskLen uint32, inPtr unsafe.Pointer, inLen uint32) int32

//go:wasmimport fusionize call_wait
func hostCallWait(h int32, outPtr unsafe.Pointer, outCap uint32) int32

//go:wasmimport fusionize take
func hostTake(outPtr unsafe.Pointer, outCap uint32) int32

//go:wasmimport fusionize log
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

//go:wasmimport fusionize kv_put
func hostKVPut(keyPtr unsafe.Pointer, keyLen uint32, valPtr unsafe.Pointer, valLen uint32) int32

//go:wasmimport fusionize kv_get
func hostKVGet(keyPtr unsafe.Pointer, keyLen uint32, outPtr unsafe.Pointer, outCap uint32) int32

//go:wasmimport fusionize span_begin
func hostSpanBegin(task uint32, inLen uint32) int32

//go:wasmimport fusionize span_end
func hostSpanEnd(status uint32, msgPtr unsafe.Pointer, n uint32) int32

var (
	inBuf   []byte // input region handed to the host by fusionize_alloc
	scratch = make([]byte, 0, 4096)
	// localIn holds the inputs of calls that stay inside a fused module,
	// one reused buffer per nesting level, so that a callee owns its input
	// as it does when the host copies it into another instance.
	localIn [][]byte
	// localSampled[d] tells whether the call at nesting level d is sampled
	// (has a span the host times). The index of the task running now and
	// the nesting level (the calls inside the module open now) are kept
	// only in the span table's words running and open, which the host
	// reads: one store each per change, not a variable and its copy.
	localSampled []bool
)

// localInput copies input into the callee's buffer of nesting level d,
// growing it only when it is too small (the slice, a pointer, is stored
// only when its length changes).
func localInput(d uint32, input []byte) []byte {
	b := localIn[d]
	if len(b) != len(input) {
		// Stored only when the length changes: localIn[d] keeps the
		// input's length for catchLocal.
		if cap(b) < len(input) {
			b = make([]byte, len(input), max(len(input), 2*cap(b)))
		}
		b = b[:len(input)]
		localIn[d] = b
	}
	copy(b, input)
	return b
}

//go:wasmexport fusionize_abi_version
func exportABIVersion() int32 {
	if len(fusedNames) > 0 {
		return abiVersionFused
	}
	return abiVersion
}

// exportTasks passes the names of a fused module's tasks to the output
// import, one per line, in the order of their indexes.
//
//go:wasmexport fusionize_tasks
func exportTasks() {
	var b []byte
	for _, n := range fusedNames {
		b = append(append(b, n...), '\n')
	}
	setOutput(b)
}

//go:wasmexport fusionize_handle_task
func exportHandleTask(index uint32, ptr unsafe.Pointer, n uint32) int32 {
	if index >= uint32(len(fusedHandlers)) {
		setOutput(fmt.Appendf(nil, "task: fusionize_handle_task: no task with index %d in this module of %d tasks", index, len(fusedHandlers)))
		return 1
	}
	spanTable.hdr[hdrRunning], spanTable.hdr[hdrGuestDepth] = index, 0
	return handleWith(fusedHandlers[index], ptr, n)
}

// exportSpanTable gives the host the address of the span table
// (spantable.go) of a fused module; 0 in a module of one task.
//
//go:wasmexport fusionize_span_table
func exportSpanTable() unsafe.Pointer {
	if len(fusedNames) == 0 {
		return nil
	}
	spanTable.hdr[hdrLayout] = spanTableLayout
	spanTable.hdr[hdrCapacity] = maxEdges
	return unsafe.Pointer(&spanTable)
}

//go:wasmexport fusionize_alloc
func exportAlloc(size uint32) unsafe.Pointer {
	if uint32(cap(inBuf)) < size || cap(inBuf) == 0 {
		inBuf = make([]byte, max(size, 64))
	}
	inBuf = inBuf[:size]
	return unsafe.Pointer(unsafe.SliceData(inBuf[:cap(inBuf)]))
}

//go:wasmexport fusionize_handle
func exportHandle(ptr unsafe.Pointer, n uint32) int32 {
	if handler == nil {
		setOutput([]byte("task: no handler registered (call task.Handle in an init function)"))
		return 1
	}
	return handleWith(handler, ptr, n)
}

func handleWith(h Handler, ptr unsafe.Pointer, n uint32) int32 {
	spanTable.hdr[hdrGuestDepth] = 0
	clearEdges()
	out, err := runHandler(h, unsafe.Slice((*byte)(ptr), n))
	if err != nil {
		setOutput([]byte(err.Error()))
		return 1
	}
	// An output the host refuses (over the payload limit) is still a
	// success status: the host reports the refusal as TOO_LARGE, while a
	// refused message with a failure status is an error it truncates.
	setOutput(out)
	return 0
}

// runHandler runs h, turning a panic into an error as a trap-free
// invocation reports it.
//
// It also runs every sampled call inside a fused module (a counted one
// recovers in CallInto, catchLocal), so it is written for Go's Wasm code,
// where every call costs: the deferred function is a small named one (its
// frame is not the formatting's), and on a normal return it does not call
// recover.
func runHandler(h Handler, in []byte) (out []byte, err error) {
	done := false
	defer catchPanic(&out, &err, &done)
	out, err = h(in)
	done = true
	return out, err
}

// catchPanic is runHandler's deferred function: after a panic (done is
// false) it recovers and sets runHandler's results to the panic's error.
func catchPanic(out *[]byte, err *error, done *bool) {
	if *done {
		return
	}
	if r := recover(); r != nil {
		*out, *err = nil, panicErr(r)
	}
}

//go:noinline
func panicErr(r any) error {
	return panicError(fmt.Sprintf("panic: %v\n%s", r, debug.Stack()))
}

type panicError string

func (e panicError) Error() string { return string(e) }

// The last name localTask looked up, and its index (-1: not in the module).
// A task calls the same few callees over and over: comparing the name
// with the last one is cheaper than hashing it.
var (
	lastName  string
	lastIndex int32 = -1
)

// sameString is a == b, without runtime.memequal's call when the two
// share their bytes (a callee's name is usually the same constant).
func sameString(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

// localTask finds task name in this fused module.
func localTask(name string) (int32, bool) {
	if len(fusedNames) == 0 {
		return 0, false
	}
	if sameString(name, lastName) {
		return lastIndex, lastIndex >= 0
	}
	i, ok := fusedIndex[name]
	if !ok {
		i = -1
	}
	lastName, lastIndex = name, i
	return i, ok
}

// callLocal runs task i of this fused module as a sync call from the task
// running now: a plain function call. With the host's span table (ABI.md,
// "Sampling calls inside the module") most calls are only counted in it;
// a sampled call, and every call the table cannot take, is bracketed by
// the span_begin and span_end imports, through which the host checks it
// (depth, payload, deadline), records the callee's span and words its error.
func callLocal(dst []byte, i int32, name string, input []byte) ([]byte, error) {
	t := &spanTable
	every := t.hdr[hdrEvery]
	if every == 0 {
		return callSampled(dst, i, name, input, nil)
	}
	d := t.hdr[hdrGuestDepth]
	caller := t.hdr[hdrRunning]
	if d == 0 {
		caller |= edgeFromTop
	}
	e := edgeOf(caller, uint32(i))
	if e == nil || t.hdr[hdrDepth]+d+1 > t.hdr[hdrMaxDepth] || uint32(len(input)) > t.hdr[hdrMaxPayload] {
		// The table is full, or the host would refuse the call: let it,
		// in its own words.
		return callSampled(dst, i, name, input, e)
	}
	if (d > 0 && localSampled[d-1]) || e[entCalls]%every == 0 {
		return callSampled(dst, i, name, input, e)
	}
	// Counted, not timed: the host adds it to the edge's aggregate span
	// when the invocation ends.
	e[entCalls]++
	e[entCounted]++
	addU64(e[entInLo:], uint64(len(input)))
	out, err := runLocal(i, input, false)
	if err != nil {
		return dst, countedFailed(e, i, name, len(input), err)
	}
	addU64(e[entOutLo:], uint64(len(out)))
	return append(dst, out...), nil
}

// countedFailed records a counted call to task i that failed as a span of
// its own, after the fact, so that the host words its error as it words a
// failed call: the call moves from the edge's count to that span.
func countedFailed(e *[entWords]uint32, i int32, name string, inLen int, err error) error {
	e[entCounted]--
	addU64(e[entInLo:], -uint64(inLen))
	if n := hostSpanBegin(uint32(i), uint32(inLen)); n < 0 {
		return &CallError{Task: name, Code: Code(n), Message: string(takeAll())}
	}
	return spanFailed(name, err)
}

// callSampled runs task i between span_begin and span_end: the host admits
// the call, times it and records its span. e is the call's edge in the span
// table, nil when there is none.
func callSampled(dst []byte, i int32, name string, input []byte, e *[entWords]uint32) ([]byte, error) {
	if n := hostSpanBegin(uint32(i), uint32(len(input))); n < 0 {
		return dst, &CallError{Task: name, Code: Code(n), Message: string(takeAll())}
	}
	if e != nil {
		e[entCalls]++
	}
	out, err := runLocal(i, input, true)
	if err != nil {
		return dst, spanFailed(name, err)
	}
	if n := hostSpanEnd(0, nil, uint32(len(out))); n < 0 {
		return dst, &CallError{Task: name, Code: Code(n), Message: string(takeAll())}
	}
	return append(dst, out...), nil
}

// spanFailed closes the innermost open span with err and returns the
// error as the host words it.
func spanFailed(name string, err error) error {
	msg := err.Error()
	n := hostSpanEnd(1, strPtr(msg), uint32(len(msg)))
	return &CallError{Task: name, Code: Code(n), Message: string(takeAll())}
}

// runLocal runs task i's handler on a copy of input, one nesting level
// deeper.
func runLocal(i int32, input []byte, sampled bool) ([]byte, error) {
	t := &spanTable
	d := t.hdr[hdrGuestDepth]
	if int(d) == len(localIn) {
		localIn = append(localIn, nil)
		localSampled = append(localSampled, false)
	}
	in := localInput(d, input)
	localSampled[d] = sampled
	caller := t.hdr[hdrRunning]
	t.hdr[hdrRunning], t.hdr[hdrGuestDepth] = uint32(i), d+1
	out, err := runHandler(fusedHandlers[i], in)
	t.hdr[hdrRunning], t.hdr[hdrGuestDepth] = caller, d
	return out, err
}

func setOutput(b []byte) int32 {
	return hostOutput(ptrOf(b), uint32(len(b)))
}

func ptrOf(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func strPtr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

// finish turns an import's return value n into a result written to dst's
// spare capacity, taking held bytes when they did not fit.
func finish(dst []byte, n int32, name string) ([]byte, error) {
	if n < 0 {
		return dst, &CallError{Task: name, Code: Code(n), Message: string(takeAll())}
	}
	if int(n) <= cap(dst) {
		return dst[:n], nil
	}
	dst = make([]byte, n)
	hostTake(ptrOf(dst), uint32(n))
	return dst, nil
}

func takeAll() []byte {
	n := hostTake(nil, 0)
	if n <= 0 {
		return nil
	}
	b := make([]byte, n)
	hostTake(ptrOf(b), uint32(n))
	return b
}

// CallInto calls task name synchronously and writes the result into dst's
// capacity, growing it if needed; it returns the result slice. With a dst of
// enough capacity it allocates nothing.
//
// In a fused module, a call to a task of the same module is a function call
// that never leaves the module; the host still records its span.
func CallInto(dst []byte, name string, input []byte) (res []byte, err error) {
	dst = dst[:0]
	// The common case, written out here (the compiler inlines none of
	// it, and every call costs in Go's Wasm code): a call to the task of
	// the last call inside the module, on the edge of the last call,
	// counted, not sampled. callInto does everything else; keeping it out
	// of this function keeps its frame small.
	t := &spanTable
	le, every, i := lastEdge, t.hdr[hdrEvery], lastIndex
	if le < 0 || i < 0 || every == 0 || !sameString(name, lastName) {
		return callInto(dst, name, input)
	}
	d := t.hdr[hdrGuestDepth]
	prev := t.hdr[hdrRunning]
	caller := prev
	if d == 0 {
		caller |= edgeFromTop
	}
	e := &t.ent[le]
	if (d > 0 && localSampled[d-1]) || int(d) >= len(localIn) ||
		e[entCaller] != caller || e[entCallee] != uint32(i) || sampleNow(e[entCalls], every) ||
		t.hdr[hdrDepth]+d+1 > t.hdr[hdrMaxDepth] || uint32(len(input)) > t.hdr[hdrMaxPayload] {
		return callLocal(dst, i, name, input)
	}
	e[entCalls]++
	e[entCounted]++
	addU64(e[entInLo:], uint64(len(input)))
	in := localInput(d, input)
	localSampled[d] = false
	t.hdr[hdrRunning], t.hdr[hdrGuestDepth] = uint32(i), d+1
	// The callee's panic fails this call only. The recover is deferred
	// here rather than in a function of its own (runHandler): one call
	// less per call.
	res = dst
	defer catchLocal(d, prev, &err)
	out, herr := fusedHandlers[i](in)
	t.hdr[hdrRunning], t.hdr[hdrGuestDepth] = prev, d
	if herr != nil {
		return dst, countedFailed(e, i, name, len(input), herr)
	}
	addU64(e[entOutLo:], uint64(len(out)))
	return append(dst, out...), nil
}

// callInto is CallInto's general case: a call to a task of this module
// (callLocal) or through the host.
func callInto(dst []byte, name string, input []byte) ([]byte, error) {
	if i, ok := localTask(name); ok {
		return callLocal(dst, i, name, input)
	}
	n := hostCall(strPtr(name), uint32(len(name)), ptrOf(input), uint32(len(input)), ptrOf(dst[:cap(dst)]), uint32(cap(dst)))
	return finish(dst, n, name)
}

// sampleNow tells whether the call of an edge that started calls before
// it is sampled: calls is a multiple of every (a mask for a power of two,
// the default, instead of a division).
func sampleNow(calls, every uint32) bool {
	if every&(every-1) == 0 {
		return calls&(every-1) == 0
	}
	return calls%every == 0
}

// catchLocal is CallInto's deferred function for a counted call from
// task prev at nesting level d. When CallInto returns, the open calls are
// back at d; if they are not, the callee panicked: catchLocal recovers,
// closes the callee's level as the return would have, and fails the call
// as a counted call that returned the panic's error (countedFailed), so
// the caller gets a *CallError naming the callee and goes on.
func catchLocal(d, prev uint32, err *error) {
	t := &spanTable
	if t.hdr[hdrGuestDepth] == d {
		return
	}
	r := recover()
	if r == nil {
		return // runtime.Goexit: not a panic
	}
	i := t.hdr[hdrRunning] // the callee: its nested calls closed their levels
	t.hdr[hdrRunning], t.hdr[hdrGuestDepth] = prev, d
	caller := prev
	if d == 0 {
		caller |= edgeFromTop
	}
	*err = countedFailed(edgeOf(caller, i), int32(i), fusedNames[i], len(localIn[d]), panicErr(r))
}

// Call calls task name synchronously and returns a copy of its result.
func Call(name string, input []byte) ([]byte, error) {
	res, err := CallInto(scratch, name, input)
	if err != nil {
		return nil, err
	}
	if cap(res) > cap(scratch) {
		scratch = res[:0]
	}
	return append([]byte(nil), res...), nil
}

// CallAsync starts task name and does not wait. It returns once the host has
// accepted the call; the callee's failure is recorded by the host, not
// returned here.
func CallAsync(name string, input []byte) error {
	if n := hostCallAsync(strPtr(name), uint32(len(name)), ptrOf(input), uint32(len(input))); n < 0 {
		return &CallError{Task: name, Code: Code(n), Message: string(takeAll())}
	}
	return nil
}

// Start starts a sync call to task name that runs in parallel with the
// caller; collect its result with Wait.
func Start(name string, input []byte) (Pending, error) {
	h := hostCallStart(strPtr(name), uint32(len(name)), ptrOf(input), uint32(len(input)))
	if h < 0 {
		return Pending{}, &CallError{Task: name, Code: Code(h), Message: string(takeAll())}
	}
	return Pending{name: name, handle: h}, nil
}

// WaitInto waits for the call and writes its result into dst's capacity.
func (p Pending) WaitInto(dst []byte) ([]byte, error) {
	dst = dst[:0]
	n := hostCallWait(p.handle, ptrOf(dst[:cap(dst)]), uint32(cap(dst)))
	return finish(dst, n, p.name)
}

// Wait waits for the call and returns a copy of its result.
func (p Pending) Wait() ([]byte, error) {
	res, err := p.WaitInto(scratch)
	if err != nil {
		return nil, err
	}
	if cap(res) > cap(scratch) {
		scratch = res[:0]
	}
	return append([]byte(nil), res...), nil
}

// Log writes msg to the host's log at level.
func Log(level int32, msg string) {
	hostLog(level, strPtr(msg), uint32(len(msg)))
}

// Put stores val under key in the host's key-value store.
func Put(key string, val []byte) error {
	if n := hostKVPut(strPtr(key), uint32(len(key)), ptrOf(val), uint32(len(val))); n < 0 {
		return &CallError{Task: key, Code: Code(n), Message: string(takeAll())}
	}
	return nil
}

// Get reads key from the host's key-value store. ok is false when the key is
// absent.
func Get(key string) (val []byte, ok bool, err error) {
	dst := scratch[:0]
	n := hostKVGet(strPtr(key), uint32(len(key)), ptrOf(dst[:cap(dst)]), uint32(cap(dst)))
	if Code(n) == CodeNotFound {
		takeAll()
		return nil, false, nil
	}
	res, err := finish(dst, n, key)
	if err != nil {
		return nil, false, err
	}
	return append([]byte(nil), res...), true, nil
}
