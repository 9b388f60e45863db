package host

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/fusionize/fusionize/api/span"
)

// The span table of a fused module (guest-sdk/ABI.md, "Sampling calls
// inside the module"): little-endian uint32 words in the guest's memory at
// the address its fusionize_span_table export returns. The host writes the
// sampling rate and the limits into the header before each invocation; the
// guest counts every call inside the module in one entry per edge and
// times only a sample through span_begin and span_end; when the invocation
// ends the host turns the counted calls into one aggregate span per edge.
const (
	exportSpanTable = "fusionize_span_table"

	spanTableLayout = 1
	maxSpanEdges    = 1024 // more than any guest needs; bounds what the host reads

	hdrLayout     = 0 // guest: spanTableLayout
	hdrCapacity   = 1 // guest: entries the table holds
	hdrEvery      = 2 // host: sample 1 in N calls of an edge
	hdrMaxDepth   = 3 // host
	hdrDepth      = 4 // host: the invocation's call depth
	hdrMaxPayload = 5 // host
	hdrUsed       = 6 // entries in use; the host writes 0 before each invocation
	hdrRunning    = 7 // guest: index of the task running now
	hdrGuestDepth = 8 // guest: calls inside the module open now
	hdrWords      = 12

	entCaller  = 0 // the caller's index, | edgeFromTop for the invocation's own task
	entCallee  = 1
	entCalls   = 2 // every call of the edge, sampled or counted
	entCounted = 3 // the calls counted only
	entInLo    = 4 // their input bytes (uint64)
	entOutLo   = 6 // their output bytes (uint64)
	entWords   = 8

	edgeFromTop = 1 << 31
)

// edgeStat sums the sampled calls of one edge in one invocation: what an
// aggregate span of its counted calls takes its duration and wait from.
type edgeStat struct {
	key   uint64 // caller word << 32 | callee index
	n     int
	dur   time.Duration
	wait  time.Duration
	start time.Duration // the first sampled call's, since Host.epoch
}

// spanTable is a fused instance's table, when its module exports one.
type spanTable struct {
	ptr      uint32 // 0: none
	capacity uint32
}

// tableWord reads header or entry word i of inst's span table.
func (inst *instance) tableWord(i uint32) uint32 {
	v, _ := inst.mem.ReadUint32Le(inst.table.ptr + 4*i)
	return v
}

// openTable finds the span table of a fresh instance of a fused module.
// A module without the export keeps every call exact; a table that is
// malformed is a bad module.
func (t *pool) openTable(ctx context.Context, inst *instance) error {
	fn := inst.mod.ExportedFunction(exportSpanTable)
	if fn == nil {
		return nil
	}
	res, err := fn.Call(ctx)
	if err != nil {
		return newError(t.label(), t.h.cfg.Name, CodeInternal, "%s trapped: %v", exportSpanTable, err)
	}
	ptr := uint32(res[0])
	if ptr == 0 {
		return nil
	}
	hdr, ok := inst.mem.Read(ptr, 4*hdrWords)
	if !ok {
		return fmt.Errorf("%s: %w: %s returned %#x, outside its memory", t.label(), ErrBadModule, exportSpanTable, ptr)
	}
	layout, capacity := binary.LittleEndian.Uint32(hdr), binary.LittleEndian.Uint32(hdr[4:])
	if layout != spanTableLayout || capacity > maxSpanEdges {
		return fmt.Errorf("%s: %w: %s: a span table of layout %d with %d entries; the host reads layout %d of at most %d entries", t.label(), ErrBadModule, exportSpanTable, layout, capacity, spanTableLayout, maxSpanEdges)
	}
	if _, ok := inst.mem.Read(ptr, 4*(hdrWords+capacity*entWords)); !ok {
		return fmt.Errorf("%s: %w: %s: its table of %d entries at %#x lies outside its memory", t.label(), ErrBadModule, exportSpanTable, capacity, ptr)
	}
	inst.table = spanTable{ptr: ptr, capacity: capacity}
	return nil
}

// armTable writes the sampling rate and the limits into inst's span table
// before an invocation, and empties it.
func (h *Host) armTable(inst *instance) {
	if inst.table.ptr == 0 {
		return
	}
	var b [4 * 5]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(h.cfg.SpanSampleEvery))
	binary.LittleEndian.PutUint32(b[4:], uint32(h.cfg.MaxDepth))
	binary.LittleEndian.PutUint32(b[8:], uint32(inst.depth))
	binary.LittleEndian.PutUint32(b[12:], uint32(min(h.cfg.MaxPayload, 1<<31-1)))
	inst.mem.Write(inst.table.ptr+4*hdrEvery, b[:]) // inside memory: checked by openTable
	if n := len(inst.p.tasks); len(inst.firstSpan) != n {
		// The instance that probed the module was made before its tasks
		// were known.
		inst.firstSpan = make([]uint64, n)
	}
	clear(inst.firstSpan)
	inst.edges = inst.edges[:0]
}

// guestFrames reports, for an instance with a span table, the task running
// now and the calls inside the module open now as the guest counts them
// (unsampled ones included); ok is false without a table.
func (inst *instance) guestFrames() (running uint32, open int, ok bool) {
	if inst.table.ptr == 0 {
		return 0, 0, false
	}
	return inst.tableWord(hdrRunning), int(inst.tableWord(hdrGuestDepth)), true
}

// spanOf returns the span a call from task index i hangs under when that
// task runs unsampled: its first sampled span of the invocation, or the
// invocation's own.
func (inst *instance) spanOf(i uint32) uint64 {
	if int(i) < len(inst.firstSpan) && inst.firstSpan[i] != 0 {
		return inst.firstSpan[i]
	}
	return inst.spanID
}

// noteSampled adds a sampled call's time to its edge.
func (inst *instance) noteSampled(f *localFrame, d time.Duration) {
	for i := range inst.edges {
		if e := &inst.edges[i]; e.key == f.edge {
			e.n++
			e.dur += d
			e.wait += min(f.wait, d)
			return
		}
	}
	inst.edges = append(inst.edges, edgeStat{key: f.edge, n: 1, dur: d, wait: min(f.wait, d), start: f.start})
}

// flushTable records one aggregate span per edge whose calls the guest
// counted without timing them, and adds the estimated time the
// invocation's own task waited on them to its wait. It reads what the
// guest wrote so far, so after a trap the calls counted before it are
// kept; it reads nothing once the instance is closed (a deadline with
// preemption), and those counts are lost.
func (h *Host) flushTable(inst *instance) {
	if inst.table.ptr == 0 {
		return
	}
	used := min(inst.tableWord(hdrUsed), inst.table.capacity)
	if used == 0 {
		return
	}
	ents, ok := inst.mem.Read(inst.table.ptr+4*hdrWords, 4*entWords*used)
	if !ok {
		return
	}
	tasks := inst.p.tasks
	for i := range used {
		e := ents[4*entWords*i:]
		w := func(j int) uint32 { return binary.LittleEndian.Uint32(e[4*j:]) }
		counted := int(w(entCounted))
		caller, callee := w(entCaller), w(entCallee)
		if counted <= 0 || int(caller&^edgeFromTop) >= len(tasks) || int(callee) >= len(tasks) {
			continue
		}
		in := binary.LittleEndian.Uint64(e[4*entInLo:])
		out := binary.LittleEndian.Uint64(e[4*entOutLo:])
		var st edgeStat
		key := uint64(caller)<<32 | uint64(callee)
		for _, s := range inst.edges {
			if s.key == key {
				st = s
			}
		}
		var mean, meanWait time.Duration
		start := time.Since(h.epoch)
		if st.n > 0 {
			mean, meanWait, start = st.dur/time.Duration(st.n), st.wait/time.Duration(st.n), st.start
		}
		parent := inst.spanOf(caller &^ edgeFromTop)
		if caller&edgeFromTop != 0 {
			parent = inst.spanID
			inst.wait += mean * time.Duration(counted)
		}
		h.stats.invocations.Add(uint64(counted))
		h.cfg.Recorder.Record(span.Span{
			TraceID: inst.traceID, ID: h.newSpanID(), ParentID: parent,
			Caller: tasks[caller&^edgeFromTop].name, Task: tasks[callee].name,
			Group: h.cfg.Group, Host: h.cfg.Name, SetupVersion: h.routes.Load().version,
			Start: h.epoch.Add(start), Duration: mean, Wait: meanWait, MemoryMB: h.cfg.MemoryMB,
			InputBytes: int(in / uint64(counted)), OutputBytes: int(out / uint64(counted)),
			Count: counted,
		})
	}
}
