// Package span defines the record a host writes for every task invocation and
// the Recorder interface that receives it.
//
// A span is the unit of telemetry the fuser learns from: who called whom, sync
// or async, in memory or over the network, how long it took and how much of
// that time the task spent waiting on its own sync callees.
//
//	rec := span.NewBuffer(1024)
//	h, _ := host.New(ctx, host.Config{Recorder: rec})
//	...
//	for _, s := range rec.Drain() { fmt.Println(s.Task, s.Duration) }
package span

import (
	"sync"
	"time"
)

// Span is one record per task invocation.
type Span struct {
	TraceID      string        // shared by every span of one request (hosts: a W3C trace id, 32 hex digits)
	ID           uint64        // unique within the trace; the 8-byte id of its OpenTelemetry span
	ParentID     uint64        // ID of the calling task's span; 0 at the entry
	Caller       string        // calling task; "" for the entry invocation
	Task         string        // the invoked task (the callee)
	Async        bool          // fire-and-forget call
	Remote       bool          // crossed a group boundary (transport), not in memory
	Group        string        // fusion group that ran the task
	Host         string        // host that ran the task
	SetupVersion int64         // fusion setup version the host routed by
	Start        time.Time     // when the task started running
	Duration     time.Duration // wall time of the task, including waits
	Wait         time.Duration // time spent blocked on sync callees
	Billed       time.Duration // billed duration, as the platform would bill it
	MemoryMB     int           // memory size of the group
	Cold         bool          // a new instance was created for this invocation
	InputBytes   int
	OutputBytes  int
	Err          string // empty on success
	// Count is how many invocations of the edge Caller→Task this span
	// stands for; 0 and 1 both mean one (read it with Calls). A span with
	// a Count above 1 aggregates calls inside a fused module that were
	// counted but not timed one by one: Duration, Wait, InputBytes and
	// OutputBytes are then the mean of one of them (the duration and wait
	// those of the edge's timed calls in the same invocation), so a reader
	// that ignores Count sees one typical call; multiply by Calls for the
	// edge's total. Such a span never carries an error (a failed call has
	// a span of its own) and is never cold.
	Count int
	// CPU is the CPU time the environment's process used for the whole
	// invocation this span is the entry of: the entry task, every task it
	// ran in memory (sync and async) and the work after the answer, as the
	// process's own clock (getrusage) counts it. Only a runtime that serves
	// one invocation at a time per environment (Lambda, Cloud Functions)
	// sets it, and only on its entry span; 0 means not measured. Unlike
	// Duration it does not grow when the platform throttles the
	// environment to its CPU share, so it tells CPU work from waiting.
	CPU time.Duration
}

// Calls returns how many invocations s stands for: Count, at least 1.
func (s *Span) Calls() int {
	if s.Count < 1 {
		return 1
	}
	return s.Count
}

// Self is the task's own time: its duration minus the time it waited on sync
// callees.
func (s *Span) Self() time.Duration {
	d := s.Duration - s.Wait
	if d < 0 {
		return 0
	}
	return d
}

// Recorder receives spans. Record must not block for long: hosts call it on
// the request path.
type Recorder interface {
	Record(Span)
}

// RecorderFunc adapts a function to the Recorder interface.
type RecorderFunc func(Span)

// Record calls f(s).
func (f RecorderFunc) Record(s Span) { f(s) }

// Discard drops every span.
var Discard Recorder = RecorderFunc(func(Span) {})

// Buffer is a bounded in-memory Recorder. When full, new spans are dropped
// and counted; recording never blocks.
type Buffer struct {
	mu      sync.Mutex
	spans   []Span
	limit   int
	dropped uint64
}

// NewBuffer returns a Buffer that holds at most limit spans.
func NewBuffer(limit int) *Buffer {
	return &Buffer{limit: limit}
}

// Record appends s, or counts it as dropped when the buffer is full.
func (b *Buffer) Record(s Span) {
	b.mu.Lock()
	if len(b.spans) >= b.limit {
		b.dropped++
	} else {
		b.spans = append(b.spans, s)
	}
	b.mu.Unlock()
}

// Drain returns the buffered spans and empties the buffer.
func (b *Buffer) Drain() []Span {
	b.mu.Lock()
	out := b.spans
	b.spans = nil
	b.mu.Unlock()
	return out
}

// Len returns the number of buffered spans.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.spans)
}

// Dropped returns how many spans were dropped because the buffer was full.
func (b *Buffer) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}
