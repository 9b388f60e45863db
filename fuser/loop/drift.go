package loop

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
)

// A drift is a signal of the serving setup that a window measured
// significantly different from the reference window: the requests'
// latency, their cost, or the overhead of the remote calls over one edge.
type drift struct {
	signal             string // "request latency", "edge I→CW aws→gcp"
	refP50, curP50     float64
	refP95, curP95     float64
	p                  float64 // Mann-Whitney two-sided p-value
	change, changeTail float64 // relative change of the median, of the p95
}

// String says what drifted, as an iteration's note carries it:
// "drift: p95 +240% on edge I→CW aws→gcp (median 1.2 → 4.1 ms, p=3e-12)".
func (d drift) String() string {
	unit := "ms"
	scale := 1.0
	if strings.HasPrefix(d.signal, "request cost") {
		unit, scale = "$/M", 1e6
	}
	return fmt.Sprintf("drift: p95 %+.0f%%, median %+.0f%% on %s (median %.3g → %.3g %s, p95 %.3g → %.3g %s; Mann-Whitney p=%.2g)",
		100*d.changeTail, 100*d.change, d.signal, d.refP50*scale, d.curP50*scale, unit, d.refP95*scale, d.curP95*scale, unit, d.p)
}

// minDriftSamples is the fewest samples per window a signal needs.
const minDriftSamples = 8

// detectDrift compares a window of the serving setup with its reference
// window. A signal drifted when the Mann-Whitney test rejects "same
// distribution" at alpha divided by the number of signals tested (the
// Bonferroni correction: many edges are tested at once) and its median grew
// or shrank by the factor 1+minChange at least (1: doubled or halved). It returns the drifted signal whose
// median moved most, edges before the end-to-end signals when both drifted
// (an edge says where).
func detectDrift(ref, cur *observation, alpha, minChange float64) (drift, bool) {
	type signal struct {
		name     string
		ref, cur []float64
	}
	signals := []signal{{"request latency", ref.latency, cur.latency}, {"request cost", ref.costs, cur.costs}}
	for _, k := range sortedKeys(cur.edges) {
		if r, ok := ref.edges[k]; ok {
			signals = append(signals, signal{"edge " + k, r, cur.edges[k]})
		}
	}
	signals = slices.DeleteFunc(signals, func(s signal) bool {
		return len(s.ref) < minDriftSamples || len(s.cur) < minDriftSamples
	})
	var found []drift
	for _, s := range signals {
		p, _ := MannWhitney(s.cur, s.ref)
		d := drift{signal: s.name, p: p,
			refP50: quantile(s.ref, 0.5), curP50: quantile(s.cur, 0.5),
			refP95: quantile(s.ref, 0.95), curP95: quantile(s.cur, 0.95)}
		d.change, d.changeTail = relChange(d.refP50, d.curP50), relChange(d.refP95, d.curP95)
		if p < alpha/float64(len(signals)) && ratio(d.refP50, d.curP50) >= 1+minChange {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return drift{}, false
	}
	sort.SliceStable(found, func(i, j int) bool {
		ei, ej := strings.HasPrefix(found[i].signal, "edge "), strings.HasPrefix(found[j].signal, "edge ")
		if ei != ej {
			return ei
		}
		return math.Abs(found[i].change) > math.Abs(found[j].change)
	})
	return found[0], true
}

// ratio is the larger of b/a and a/b (+Inf when one is zero and the other
// is not, 1 when both are).
func ratio(a, b float64) float64 {
	switch {
	case a == b:
		return 1
	case a == 0 || b == 0:
		return math.Inf(1)
	}
	return max(a/b, b/a)
}

// relChange is (b − a) / a, ±Inf when a is zero and b is not.
func relChange(a, b float64) float64 {
	switch {
	case a == b:
		return 0
	case a == 0:
		return math.Copysign(math.Inf(1), b)
	}
	return (b - a) / a
}

func quantile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	return s[int(q*float64(len(s)-1))]
}

func sortedKeys(m map[string][]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// callOverheads returns, per edge over the network ("I→CW aws→gcp"), the
// overhead of each remote sync call in ms: for a caller span, the time it
// waited on sync callees minus the time covered by their own spans, shared
// among its clusters of overlapping calls. It includes the invoke overhead,
// the round trip and the payload's transfer. Callers with an in-memory or
// cold sync callee, or a remote async one, are left out: there the wait
// holds more than the network.
func callOverheads(spans []span.Span, s *setup.Setup) map[string][]float64 {
	type key struct {
		trace string
		id    uint64
	}
	kids := map[key][]*span.Span{}
	for i := range spans {
		sp := &spans[i]
		if sp.ParentID != 0 {
			k := key{sp.TraceID, sp.ParentID}
			kids[k] = append(kids[k], sp)
		}
	}
	places := map[string]setup.Place{}
	providers := map[string]int{} // places per provider
	for _, g := range s.Groups {
		places[g.Name] = g.Place
	}
	seen := map[setup.Place]bool{}
	for _, p := range places {
		if !seen[p] {
			seen[p] = true
			providers[p.Provider]++
		}
	}
	label := func(p setup.Place) string {
		if providers[p.Provider] == 1 {
			return p.Provider
		}
		return p.String()
	}
	out := map[string][]float64{}
	for i := range spans {
		caller := &spans[i]
		ks := kids[key{caller.TraceID, caller.ID}]
		var sync []*span.Span
		usable := true
		for _, k := range ks {
			if k.Async {
				usable = usable && !k.Remote
				continue
			}
			usable = usable && k.Remote && !k.Cold
			sync = append(sync, k)
		}
		if !usable || len(sync) == 0 {
			continue
		}
		union, clusters := covered(sync)
		transport := caller.Wait - union
		if transport < 0 {
			continue
		}
		per := ms(transport) / float64(clusters)
		from, ok := places[caller.Group]
		if !ok {
			continue
		}
		for _, k := range sync {
			to, ok := places[k.Group]
			if !ok {
				continue
			}
			e := fmt.Sprintf("%s→%s %s→%s", caller.Task, k.Task, label(from), label(to))
			out[e] = append(out[e], per)
		}
	}
	return out
}

// covered returns the time the spans' intervals cover and how many
// clusters of overlapping spans they form.
func covered(ss []*span.Span) (time.Duration, int) {
	sorted := slices.Clone(ss)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	var total time.Duration
	clusters := 0
	var end time.Time
	for _, sp := range sorted {
		e := sp.Start.Add(sp.Duration)
		switch {
		case clusters == 0 || sp.Start.After(end):
			clusters++
			total += sp.Duration
			end = e
		case e.After(end):
			total += e.Sub(end)
			end = e
		}
	}
	return total, clusters
}
