package loop

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
)

func TestDecide(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	sample := func(n int, mean, spread float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = mean + r.NormFloat64()*spread
		}
		return out
	}
	obs := func(lat, cost float64, failed int) *observation {
		o := &observation{latency: sample(120, lat, lat/10), costs: sample(120, cost, cost/10), failed: failed}
		o.score = lat + cost*1e6 // latency ms + $/M, as a weighted objective would
		o.p95 = percentile(o.latency, 0.95)
		return o
	}
	best := obs(100, 2e-6, 0)
	cases := []struct {
		name     string
		next     *observation
		decision string
		rollback bool
	}{
		{"faster and cheaper", obs(70, 1.5e-6, 0), "kept", false},
		{"same speed, cheaper", obs(100, 1.2e-6, 0), "kept", false},
		{"slower", obs(140, 2e-6, 0), "rolled-back", true},
		{"within noise", obs(100.5, 2e-6, 0), "kept (no significant difference)", false},
		{"more failures", obs(60, 1e-6, 3), "rolled-back", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, rb, _ := decide(manifest.Objective{}, c.next, best, 0.05)
			if d != c.decision || rb != c.rollback {
				t.Fatalf("got %q (rollback %v), want %q (rollback %v)", d, rb, c.decision, c.rollback)
			}
		})
	}
}

// A setup that measured over the objective's latency bound is rolled back
// to the best setup when that one measured within it, even where the rank
// tests see no difference: IoT on emulated Lambda once ended serving a
// setup at p95 205 ms over a bound of 150 ms, kept with "no significant
// difference" from one that had measured 141.6 ms.
func TestDecideRollsBackASetupOverTheBound(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	// Most requests alike, the tail apart: the rank tests cannot tell the
	// windows apart, the p95 is on either side of the bound.
	window := func(tail float64) *observation {
		o := &observation{setup: &setup.Setup{Version: 7}}
		for i := 0; i < 96; i++ {
			lat := 35 + r.NormFloat64()*3
			if i%16 == 15 { // six requests in 96
				lat = tail + r.NormFloat64()*5
			}
			o.latency = append(o.latency, lat)
			o.costs = append(o.costs, 1e-6+r.NormFloat64()*1e-7)
		}
		o.p50, o.p95 = percentile(o.latency, 0.5), percentile(o.latency, 0.95)
		return o
	}
	obj := manifest.Objective{Latency: "p95", LatencyBoundMs: 150}
	within, over := window(140), window(205)
	within.score, over.score = 1, 1e9 // optimize.Score's penalty for the bound
	if ms(within.p95) > 150 || ms(over.p95) <= 150 {
		t.Fatalf("the windows' p95s are %v and %v, want either side of 150 ms", within.p95, over.p95)
	}
	if d, rb, _ := decide(manifest.Objective{}, over, within, 0.05); rb || d != "kept (no significant difference)" {
		t.Fatalf("without a bound: got %q (rollback %v), want the rank tests to see no difference", d, rb)
	}
	d, rb, why := decide(obj, over, within, 0.05)
	if d != "rolled-back" || !rb {
		t.Fatalf("got %q (rollback %v), want rolled-back", d, rb)
	}
	for _, want := range []string{"over the bound of 150 ms", "version 7"} {
		if !strings.Contains(why, want) {
			t.Errorf("why %q does not say %q", why, want)
		}
	}
	// Both over the bound, or the new one within it: the tests decide.
	if _, rb, _ := decide(obj, over, window(210), 0.05); rb {
		t.Error("rolled back a setup over the bound to one over it too")
	}
	if _, rb, _ := decide(obj, within, over, 0.05); rb {
		t.Error("rolled back a setup within the bound")
	}
}
