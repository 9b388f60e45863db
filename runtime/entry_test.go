package runtime_test

import (
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/runtime"
)

type spans []span.Span

func (s *spans) Record(x span.Span) { *s = append(*s, x) }

// burn uses at least d of this process's CPU time.
func burn(t *testing.T, d time.Duration) {
	t.Helper()
	start, ok := runtime.ProcessCPU()
	if !ok {
		t.Skip("this platform does not tell a process its CPU time")
	}
	x := uint64(1)
	for {
		for range 10000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		if now, _ := runtime.ProcessCPU(); now-start >= d {
			break
		}
	}
	if x == 0 {
		t.Log(x)
	}
}

func TestEntrySpansGiveTheEntryItsInvocationsCPUTime(t *testing.T) {
	var got spans
	e := runtime.NewEntrySpans(&got, func(d time.Duration) time.Duration { return d.Truncate(time.Hour) + time.Hour })
	e.Begin("A", "", 0, time.Now())
	e.Record(span.Span{Task: "A", ID: 1, Duration: time.Millisecond})
	burn(t, 20*time.Millisecond)
	// A span of a task run in memory goes on at once, without CPU time.
	e.Record(span.Span{Task: "B", Caller: "A", ID: 2, ParentID: 1})
	if len(got) != 1 || got[0].Task != "B" || got[0].CPU != 0 {
		t.Fatalf("before the end: %+v, want only B's span, without CPU time", got)
	}
	e.End()
	if len(got) != 2 || got[1].Task != "A" {
		t.Fatalf("after the end: %+v, want A's span last", got)
	}
	if a := got[1]; a.CPU < 20*time.Millisecond || a.Billed != time.Hour {
		t.Errorf("entry span: CPU %v (burned at least 20ms), billed %v (want the bill's 1h)", a.CPU, a.Billed)
	}

	// An invocation whose entry span never came records nothing at its end;
	// a span recorded between invocations goes on as it is.
	e.Begin("A", "", 0, time.Now())
	e.End()
	e.Record(span.Span{Task: "A", ID: 3})
	if len(got) != 3 || got[2].CPU != 0 || got[2].Billed != 0 {
		t.Errorf("spans %+v: want A's third span untouched", got)
	}
}

func TestEntrySpansOfOverlappingInvocationsGoOnAsTheyAre(t *testing.T) {
	var got spans
	e := runtime.NewEntrySpans(&got, nil)
	e.Begin("A", "", 0, time.Now())
	e.Record(span.Span{Task: "A", ID: 1})
	e.Begin("A", "", 0, time.Now()) // a second request in the same instance
	e.Record(span.Span{Task: "A", ID: 2})
	e.End()
	e.End()
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 2 || got[0].CPU != 0 || got[1].CPU != 0 {
		t.Fatalf("spans %+v: want both entry spans, in order, without CPU time", got)
	}
	// Alone again, an invocation's entry span is held and measured.
	e.Begin("A", "", 0, time.Now())
	e.Record(span.Span{Task: "A", ID: 3})
	burn(t, time.Millisecond)
	e.End()
	if len(got) != 3 || got[2].ID != 3 || got[2].CPU <= 0 {
		t.Errorf("spans %+v: want the third with its CPU time", got)
	}
}
