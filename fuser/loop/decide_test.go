package loop

import (
	"math/rand/v2"
	"testing"
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
			d, rb := decide(c.next, best, 0.05)
			if d != c.decision || rb != c.rollback {
				t.Fatalf("got %q (rollback %v), want %q (rollback %v)", d, rb, c.decision, c.rollback)
			}
		})
	}
}
