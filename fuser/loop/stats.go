package loop

import (
	"math"
	"sort"
)

// MannWhitney returns the two-sided p-value of the Mann-Whitney U test that
// samples a and b come from the same distribution, by the normal
// approximation with a tie correction (fine for the tens to hundreds of
// samples an observation window holds), and the probability that a value of
// a is less than a value of b (the common-language effect size).
func MannWhitney(a, b []float64) (p, pLess float64) {
	n1, n2 := float64(len(a)), float64(len(b))
	if n1 == 0 || n2 == 0 {
		return 1, 0.5
	}
	type obs struct {
		v     float64
		fromA bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rankA, tieSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // mean of ranks i+1..j
		t := float64(j - i)
		tieSum += t*t*t - t
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankA += rank
			}
		}
		i = j
	}
	u1 := rankA - n1*(n1+1)/2 // pairs where a > b (ties count half)
	pLess = 1 - u1/(n1*n2)
	n := n1 + n2
	mu := n1 * n2 / 2
	sigma := math.Sqrt(n1 * n2 / 12 * ((n + 1) - tieSum/(n*(n-1))))
	if sigma == 0 {
		return 1, pLess
	}
	z := (math.Abs(u1-mu) - 0.5) / sigma
	if z < 0 {
		z = 0
	}
	p = math.Erfc(z / math.Sqrt2)
	return p, pLess
}
