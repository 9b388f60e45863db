package loop

import (
	"math/rand/v2"
	"testing"
)

func TestMannWhitney(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sample := func(n int, mean float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = mean + r.NormFloat64()*5
		}
		return out
	}
	cases := []struct {
		name        string
		a, b        []float64
		significant bool
		aLess       bool
	}{
		{"same distribution", sample(100, 50), sample(100, 50), false, false},
		{"a clearly faster", sample(100, 40), sample(100, 50), true, true},
		{"a clearly slower", sample(100, 60), sample(100, 50), true, false},
		{"too few samples to tell", sample(3, 49), sample(3, 50), false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, pLess := MannWhitney(c.a, c.b)
			if (p < 0.01) != c.significant {
				t.Fatalf("p = %.4f, want significant=%v", p, c.significant)
			}
			if c.significant && (pLess > 0.5) != c.aLess {
				t.Fatalf("P(a<b) = %.2f, want a less = %v", pLess, c.aLess)
			}
		})
	}
	if p, _ := MannWhitney(nil, []float64{1}); p != 1 {
		t.Fatalf("empty sample: p = %v", p)
	}
	if p, _ := MannWhitney([]float64{1, 1, 1}, []float64{1, 1}); p != 1 {
		t.Fatalf("all ties: p = %v", p)
	}
}
