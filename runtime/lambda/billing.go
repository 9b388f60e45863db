package lambda

import (
	"time"

	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/runtime"
)

// newEntrySpans holds back the span of each invocation's entry task until
// the invocation is over, to give it its CPU time and what Lambda bills:
// the time from the event's arrival until the runtime asks for the next
// one (the work after the response included), rounded up to 1 ms. It is
// the runtime's own measure; the platform's REPORT line is the bill itself.
func newEntrySpans(next span.Recorder) *runtime.EntrySpans {
	return runtime.NewEntrySpans(next, billed)
}

// billed is Lambda's billed duration of an invocation that ran d: rounded
// up to the millisecond.
func billed(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}
