package loop

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
)

// samples returns n values around median ms with ±20% spread.
func samples(r *rand.Rand, n int, median float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = median * (0.8 + 0.4*r.Float64())
	}
	return out
}

func window(r *rand.Rand, latencyMs, edgeMs float64) *observation {
	return &observation{
		latency: samples(r, 48, latencyMs),
		costs:   samples(r, 48, 2e-6),
		edges:   map[string][]float64{"I→CW aws→gcp": samples(r, 96, edgeMs), "I→A aws→aws": samples(r, 48, 3)},
	}
}

func TestDriftNamesTheEdgeThatGotSlower(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ref := window(r, 40, 4)
	cur := window(r, 70, 14) // the aws→gcp round trip grew by 10 ms
	d, ok := detectDrift(ref, cur, 0.05, 1)
	if !ok {
		t.Fatal("a 3.5× slower edge was not detected")
	}
	if d.signal != "edge I→CW aws→gcp" || d.change < 2 {
		t.Fatalf("drift %+v: want the I→CW edge, median +250%%", d)
	}
	if s := d.String(); !strings.HasPrefix(s, "drift: p95 +") || !strings.Contains(s, "on edge I→CW aws→gcp") {
		t.Fatalf("reason %q does not say what drifted where", s)
	}
}

func TestNoDriftBetweenWindowsOfTheSameDistribution(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		if d, ok := detectDrift(window(r, 40, 4), window(r, 40, 4), 0.05, 1); ok {
			t.Fatalf("trial %d: drift %v between windows of one distribution", i, d)
		}
	}
}

// A shift that is significant but small (+60%: the noise of a loaded
// machine) is not a drift worth a re-plan: the median must move by the
// factor 1+MinChange.
func TestSmallSignificantShiftIsNotDrift(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ref := window(r, 40, 4)
	cur := window(r, 64, 6.4)
	if d, ok := detectDrift(ref, cur, 0.05, 1); ok {
		t.Fatalf("drift %v on a +60%% shift", d)
	}
	if _, ok := detectDrift(ref, cur, 0.05, 0.5); !ok {
		t.Fatal("the same shift is not detected with MinChange 0.5: the test above could not fail")
	}
}

func TestDriftFasterIsDriftToo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	d, ok := detectDrift(window(r, 90, 30), window(r, 40, 4), 0.05, 1)
	if !ok || d.change > -0.5 {
		t.Fatalf("drift %+v, %v: want a detected drop", d, ok)
	}
}

func TestDriftNeedsSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	ref := &observation{latency: samples(r, 5, 10), costs: samples(r, 5, 1)}
	cur := &observation{latency: samples(r, 5, 100), costs: samples(r, 5, 10)}
	if d, ok := detectDrift(ref, cur, 0.05, 0.5); ok {
		t.Fatalf("drift %v from 5 samples", d)
	}
}

func TestCallOverheadsPerEdge(t *testing.T) {
	s := &setup.Setup{Groups: []setup.Group{
		{Name: "g1", Tasks: []string{"I"}, Place: setup.Place{Provider: "aws", Region: "us-east-1"}},
		{Name: "g2", Tasks: []string{"CW"}, Place: setup.Place{Provider: "gcp", Region: "us-east4"}},
		{Name: "g3", Tasks: []string{"A"}, Place: setup.Place{Provider: "aws", Region: "us-east-1"}},
	}}
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	spans := []span.Span{
		// I waits 30 ms on two overlapping calls covering 22 ms: 8 ms of network, one cluster.
		{TraceID: "t", ID: 1, Task: "I", Group: "g1", Start: t0, Duration: 40 * ms, Wait: 30 * ms},
		{TraceID: "t", ID: 2, ParentID: 1, Caller: "I", Task: "CW", Group: "g2", Remote: true, Start: t0.Add(5 * ms), Duration: 20 * ms},
		{TraceID: "t", ID: 3, ParentID: 1, Caller: "I", Task: "A", Group: "g3", Remote: true, Start: t0.Add(7 * ms), Duration: 20 * ms},
		// A caller with a cold callee is left out.
		{TraceID: "u", ID: 1, Task: "I", Group: "g1", Start: t0, Duration: 40 * ms, Wait: 35 * ms},
		{TraceID: "u", ID: 2, ParentID: 1, Caller: "I", Task: "CW", Group: "g2", Remote: true, Cold: true, Start: t0, Duration: 20 * ms},
	}
	got := callOverheads(spans, s)
	if len(got) != 2 || len(got["I→CW aws→gcp"]) != 1 || len(got["I→A aws→aws"]) != 1 {
		t.Fatalf("edges %v: want I→CW and I→A once each", got)
	}
	if v := got["I→CW aws→gcp"][0]; v < 7.9 || v > 8.1 {
		t.Fatalf("I→CW overhead %.2f ms, want 8", v)
	}
}
