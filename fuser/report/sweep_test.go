package report

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteSweep(t *testing.T) {
	var buf bytes.Buffer
	err := WriteSweep(&buf, SweepData{App: "tree", Percentile: "p95", Objective: "least cost with p95 ≤ 100 ms", Points: []SweepPoint{
		{Setup: "(A) (B) 512@aws", Source: "every task alone", LatencyMs: 80, CostPerMillion: 9, Front: true},
		{Setup: "(A,B) 512@aws", Source: "all fused", LatencyMs: 40, CostPerMillion: 4, Front: true, Best: true},
		{Setup: "(A,B) 1024@<gcp>", Source: "sample", LatencyMs: 90, CostPerMillion: 12},
		{Setup: "(A,B) 128@aws", Source: "sample", Failed: "3 of 24 requests failed"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{"<svg", "p95 latency (ms)", "<polyline", `class="front"`, "best", "1024@&lt;gcp&gt;", "3 of 24 requests failed"} {
		if !strings.Contains(html, want) {
			t.Errorf("sweep page lacks %q", want)
		}
	}
	// Two filled front points, one hollow dominated one; the failed point is
	// only in the table.
	if n := strings.Count(html, `fill="#16a34a" stroke`); n != 2 {
		t.Errorf("%d front points drawn, want 2", n)
	}
	if n := strings.Count(html, "<circle"); n != 4 { // 3 points + the ring of the best
		t.Errorf("%d circles, want 4", n)
	}
	if strings.Contains(html, "<script") {
		t.Error("page must not need scripts")
	}
}
