package optimize

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/profile"
)

// Replanner is a Strategy that can be told the world it plans for has
// changed: new prices (the user's input), or a measurement of the serving
// setup that disagrees with what it assumed about the platforms. A loop
// watching a converged setup (loop.Watch) asks it for the strategy of its
// next search.
type Replanner interface {
	Strategy
	// Replan returns a strategy that plans with prices and with what
	// measured, a report of the serving setup, says about the round trips
	// between places (nil: nothing measured), and notes saying what it
	// learned.
	Replan(prices cost.Prices, measured *analytics.Report) (Strategy, []string)
}

var _ Replanner = (*Model)(nil)

// Minimum evidence before a round trip learned from calls replaces the
// profile's figure: enough calls, and a difference beyond noise.
const (
	minLinkCalls   = 10
	minLinkDiffMs  = 2.0
	minLinkDiffRel = 0.25
)

// Replan returns a Model with prices and with the round trips between
// places learned from measured: a cloud does not say what its network
// takes, so each link the serving setup's remote calls crossed gets the
// measured overhead of those calls minus the invoke overhead of the callee's
// place (measured on calls within that place when there are some, else the
// profile's figure). A learned round trip replaces the profile's when it
// differs by more than 25% and 2 ms over at least 10 calls.
func (m *Model) Replan(prices cost.Prices, measured *analytics.Report) (Strategy, []string) {
	cfg := m.cfg
	cfg.Prices = &prices
	prof := *cfg.Profile
	prof.Links = slices.Clone(prof.Links)
	prof.Platforms = slices.Clone(prof.Platforms)
	var notes []string
	for _, l := range LearnLinks(&prof, measured) {
		t := rtt.Table{Links: prof.Links}
		t.Overlay([]rtt.Link{l})
		prof.Links = t.Links
		notes = append(notes, fmt.Sprintf("round trip %s ↔ %s learned from the serving setup's calls: %.1f ms", l.A, l.B, l.RTTMs))
	}
	cfg.Profile = &prof
	return &Model{cfg: cfg}, notes
}

// LearnLinks returns the round trips between two distinct places that the
// remote calls of r measure differently from prof (see Model.Replan),
// sorted by place.
func LearnLinks(prof *profile.Profile, r *analytics.Report) []rtt.Link {
	if r == nil {
		return nil
	}
	// Invoke overhead per callee place, from calls within that place.
	inv := map[string]float64{}
	for l, o := range r.Overhead {
		if l.From == l.To && o.Count >= minLinkCalls {
			to, ok := parsePlace(l.To)
			if !ok {
				continue
			}
			inv[l.To] = max(ms(o.Mean)-ms(prof.RTT(to, to)), 0)
		}
	}
	type pair struct{ a, b string }
	sum := map[pair][2]float64{} // Σ rtt×count, Σ count; both directions
	for l, o := range r.Overhead {
		if l.From == l.To || o.Count < 1 {
			continue
		}
		_, ok1 := parsePlace(l.From)
		to, ok2 := parsePlace(l.To)
		if !ok1 || !ok2 {
			continue
		}
		overhead, ok := inv[l.To]
		if !ok {
			overhead = ms(prof.InvokeOverhead(to))
		}
		est := max(ms(o.Mean)-overhead, 0)
		k := pair{l.From, l.To}
		if k.b < k.a {
			k = pair{k.b, k.a}
		}
		v := sum[k]
		v[0] += est * float64(o.Count)
		v[1] += float64(o.Count)
		sum[k] = v
	}
	var out []rtt.Link
	for k, v := range sum {
		if v[1] < minLinkCalls {
			continue
		}
		a, _ := parsePlace(k.a)
		b, _ := parsePlace(k.b)
		learned, assumed := v[0]/v[1], ms(prof.RTT(a, b))
		if d := math.Abs(learned - assumed); d >= minLinkDiffMs && d >= minLinkDiffRel*assumed {
			out = append(out, rtt.Link{A: k.a, B: k.b, RTTMs: math.Round(learned*10) / 10})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].A+out[i].B < out[j].A+out[j].B })
	return out
}
