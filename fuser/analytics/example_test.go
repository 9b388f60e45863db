package analytics_test

import (
	"fmt"
	"time"

	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/analytics"
)

func ExampleAnalyze() {
	t0 := time.Unix(0, 0)
	spans := []span.Span{
		{TraceID: "r1", ID: 1, Task: "A", Start: t0, Duration: 50 * time.Millisecond, Wait: 30 * time.Millisecond},
		{TraceID: "r1", ID: 2, ParentID: 1, Caller: "A", Task: "B", Start: t0.Add(10 * time.Millisecond), Duration: 30 * time.Millisecond},
		{TraceID: "r1", ID: 3, ParentID: 1, Caller: "A", Task: "B", Start: t0.Add(10 * time.Millisecond), Duration: -time.Second}, // bad
	}
	r := analytics.Analyze(spans, analytics.Options{Tasks: []string{"A", "B"}})
	e := r.Edges[analytics.Edge{Caller: "A", Callee: "B"}]
	fmt.Println(r.Rejected.Total(), "rejected;", r.Requests, "request, latency", r.Latency[0].P50)
	fmt.Println("A's own time", r.Tasks["A"].Self.Mean, "; A→B sync share", e.SyncShare(), "calls per request", e.PerRequest)
	// Output:
	// 1 rejected; 1 request, latency 50ms
	// A's own time 20ms ; A→B sync share 1 calls per request 1
}
