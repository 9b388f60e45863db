package runtime

import (
	"sync"
	"time"

	"github.com/fusionize/fusionize/api/span"
)

// EntrySpans is the span recorder of a runtime that serves one invocation
// at a time per environment (Lambda, Cloud Functions). It holds back the
// span of each invocation's entry task until the invocation is over, then
// gives it what only the end knows:
//   - CPU: the CPU time this process used from Begin to End (ProcessCPU),
//     which is the invocation's whole CPU work since nothing else runs in
//     the environment meanwhile;
//   - Billed, when bill is set: bill of the time from Begin to End.
//
// Every other span goes on at once. Invocations that overlap (a Cloud
// Function allowed more than one request per instance) hold nothing back:
// neither's CPU time is its own, and their spans go on as they are.
type EntrySpans struct {
	next span.Recorder
	bill func(time.Duration) time.Duration

	mu       sync.Mutex
	inflight int // invocations begun and not ended
	armed    bool
	task     string
	caller   string
	parent   uint64
	start    time.Time
	cpu      time.Duration
	cpuOK    bool
	held     *span.Span
}

// NewEntrySpans returns an EntrySpans recording to next; bill, if not nil,
// turns an invocation's time from Begin to End into its billed duration.
func NewEntrySpans(next span.Recorder, bill func(time.Duration) time.Duration) *EntrySpans {
	return &EntrySpans{next: next, bill: bill}
}

// Record implements span.Recorder.
func (e *EntrySpans) Record(s span.Span) {
	e.mu.Lock()
	if e.armed && e.held == nil && s.Task == e.task && s.Caller == e.caller && s.ParentID == e.parent {
		e.held = &s
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	e.next.Record(s)
}

// Begin starts an invocation of task from caller (parent span parent) that
// arrived at start.
func (e *EntrySpans) Begin(task, caller string, parent uint64, start time.Time) {
	cpu, ok := ProcessCPU()
	e.mu.Lock()
	e.inflight++
	if e.inflight > 1 {
		held := e.held
		e.armed, e.held = false, nil
		e.mu.Unlock()
		if held != nil {
			e.next.Record(*held)
		}
		return
	}
	e.armed, e.task, e.caller, e.parent, e.start, e.held = true, task, caller, parent, start, nil
	e.cpu, e.cpuOK = cpu, ok
	e.mu.Unlock()
}

// End ends the invocation begun last, once all its work is done: its entry
// span goes on with its CPU time (and its bill).
func (e *EntrySpans) End() {
	cpu, ok := ProcessCPU()
	e.mu.Lock()
	held, start, cpu0, ok0 := e.held, e.start, e.cpu, e.cpuOK
	e.armed, e.held = false, nil
	e.inflight = max(e.inflight-1, 0)
	e.mu.Unlock()
	if held == nil {
		return
	}
	if ok && ok0 && cpu > cpu0 {
		held.CPU = cpu - cpu0
	}
	if e.bill != nil {
		held.Billed = e.bill(time.Since(start))
	}
	e.next.Record(*held)
}
