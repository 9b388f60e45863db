package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
)

func TestWrite(t *testing.T) {
	final := &setup.Setup{Version: 3, Groups: []setup.Group{
		{Name: "A+B", Tasks: []string{"A", "B"}, MemoryMB: 512, Place: setup.Place{Provider: "aws", Region: "us-east-1"}},
		{Name: "C", Tasks: []string{"C"}, MemoryMB: 128, Place: setup.Place{Provider: "gcp", Region: "us-east4"}},
	}}
	its := []api.Iteration{
		{Index: 0, Setup: final, P50Ms: 120, P95Ms: 180, CostPerMillionUSD: 4.2, Decision: "baseline", DeployedAt: time.Now()},
		{Index: 1, Setup: final, Decision: "failed", Note: "deploy failed"},
		{Index: 2, Setup: final, P50Ms: 60, P95Ms: 90, CostPerMillionUSD: 2.1, Decision: "kept", Note: "fuse <A,B>",
			Predicted: &api.Prediction{P50Ms: 50, P95Ms: 100, CostPerMillionUSD: 2.1, Confidence: 0.25}},
	}
	var buf bytes.Buffer
	err := Write(&buf, Data{App: "tree", Strategy: "model", Iterations: its, Final: final,
		Edges: []Edge{{"A", "B", false}, {"A", "C", true}}, Verdict: "converged"})
	if err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{"<svg", "Latency per iteration", "Cost per million", "fuse &lt;A,B&gt;", "stroke-dasharray", "512 MB · aws/us-east-1", "(A,B) (C)",
		"50.0 / 100.0 / 2.10 (±25%)", "&#43;20% / -10% / &#43;0%", "predicted p50", "<b>converged</b>"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(html, "<script") {
		t.Error("report must not need scripts")
	}
}
