package lambda

import (
	"sync"
	"time"

	"github.com/fusionize/fusionize/api/span"
)

// entrySpans holds back the span of each invocation's entry task until the
// invocation is over, to give it what Lambda bills: the time from the
// event's arrival until the runtime asks for the next one (the work after
// the response included), rounded up to 1 ms. It is the runtime's own
// measure; the platform's REPORT line is the bill itself.
type entrySpans struct {
	next span.Recorder

	mu     sync.Mutex
	armed  bool
	task   string
	caller string
	parent uint64
	start  time.Time
	held   *span.Span
}

func newEntrySpans(next span.Recorder) *entrySpans { return &entrySpans{next: next} }

// Record implements span.Recorder.
func (e *entrySpans) Record(s span.Span) {
	e.mu.Lock()
	if e.armed && e.held == nil && s.Task == e.task && s.Caller == e.caller && s.ParentID == e.parent {
		e.held = &s
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	e.next.Record(s)
}

// arm starts an invocation of task from caller (parent span parent).
func (e *entrySpans) arm(task, caller string, parent uint64, start time.Time) {
	e.mu.Lock()
	e.armed, e.task, e.caller, e.parent, e.start, e.held = true, task, caller, parent, start, nil
	e.mu.Unlock()
}

// done ends the invocation: the entry span, billed, goes on.
func (e *entrySpans) done() {
	e.mu.Lock()
	held, start := e.held, e.start
	e.armed, e.held = false, nil
	e.mu.Unlock()
	if held == nil {
		return
	}
	d := time.Since(start)
	held.Billed = (d + time.Millisecond - 1).Truncate(time.Millisecond)
	e.next.Record(*held)
}
