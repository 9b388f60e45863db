package cost

import (
	"fmt"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
)

// PlaceFunc returns where a group of a setup version ran.
type PlaceFunc func(version int64, group string) (setup.Place, bool)

// PlacesOf returns a PlaceFunc over setups: it looks a group up in the setup
// of the span's version, then in any of the setups (newest first) when that
// version is not among them.
func PlacesOf(setups ...*setup.Setup) PlaceFunc {
	type key struct {
		v int64
		g string
	}
	byVersion := make(map[key]setup.Place)
	byName := make(map[string]setup.Place)
	for i := len(setups) - 1; i >= 0; i-- {
		s := setups[i]
		if s == nil {
			continue
		}
		for _, g := range s.Groups {
			byVersion[key{s.Version, g.Name}] = g.Place
			if _, ok := byName[g.Name]; !ok {
				byName[g.Name] = g.Place
			}
		}
	}
	return func(v int64, g string) (setup.Place, bool) {
		if p, ok := byVersion[key{v, g}]; ok {
			return p, true
		}
		p, ok := byName[g]
		return p, ok
	}
}

// IsInvocation reports whether s is a platform invocation: a remote call or
// the entry of a request.
func IsInvocation(s *span.Span) bool { return s.Remote || s.Caller == "" }

// Request returns the cost of the spans of one request (one trace): for each
// platform invocation, the request fee plus its billed time, where the billed
// time runs from the invocation's start to the end of the last span that ran
// in memory under it. In-memory spans whose invocation is not among spans are
// not billed.
func (p *Prices) Request(spans []span.Span, place PlaceFunc) (float64, error) {
	var r requestPricer
	return r.price(p, spans, nil, place)
}

type requestPricer struct {
	pos  map[uint64]int32
	ends []time.Time
}

// price prices spans[idx...] (all spans when idx is nil).
func (r *requestPricer) price(p *Prices, spans []span.Span, idx []int32, place PlaceFunc) (float64, error) {
	n := len(spans)
	if idx != nil {
		n = len(idx)
	}
	at := func(i int) *span.Span {
		if idx != nil {
			return &spans[idx[i]]
		}
		return &spans[i]
	}
	if r.pos == nil {
		r.pos = make(map[uint64]int32, n)
	} else {
		clear(r.pos)
	}
	r.ends = r.ends[:0]
	for i := 0; i < n; i++ {
		s := at(i)
		r.pos[s.ID] = int32(i)
		r.ends = append(r.ends, s.Start.Add(s.Duration))
	}
	// Extend every invocation to the end of the in-memory spans under it,
	// and to the start of the remote async calls it made: a host hands
	// those over in the background and its invocation ends once they are.
	for i := 0; i < n; i++ {
		s := at(i)
		end := s.Start.Add(s.Duration)
		if IsInvocation(s) {
			if !s.Remote || !s.Async {
				continue
			}
			end = s.Start
		}
		cur := s
		for depth := 0; depth < 256; depth++ {
			j, ok := r.pos[cur.ParentID]
			if !ok || cur.ParentID == cur.ID {
				break
			}
			cur = at(int(j))
			if IsInvocation(cur) {
				if end.After(r.ends[j]) {
					r.ends[j] = end
				}
				break
			}
		}
	}
	total := 0.0
	for i := 0; i < n; i++ {
		s := at(i)
		if !IsInvocation(s) {
			continue
		}
		pl, ok := place(s.SetupVersion, s.Group)
		if !ok {
			return 0, fmt.Errorf("%w: %q (setup version %d, task %s)", ErrUnknownGroup, s.Group, s.SetupVersion, s.Task)
		}
		c, err := p.Invocation(pl, s.MemoryMB, r.ends[i].Sub(s.Start))
		if err != nil {
			return 0, fmt.Errorf("cost: group %q: %w", s.Group, err)
		}
		if s.Remote && s.Async {
			q, err := p.AsyncFee(pl)
			if err != nil {
				return 0, fmt.Errorf("cost: group %q: %w", s.Group, err)
			}
			c += q
		}
		total += c
	}
	return total, nil
}

// Summary is the cost of a set of requests.
type Summary struct {
	Requests    int     // distinct trace ids
	Invocations int     // platform invocations
	Total       float64 // dollars
	PerRequest  float64 // dollars per request
	PerMillion  float64 // dollars per million requests
}

// Summarize groups spans by trace id and prices every request.
func (p *Prices) Summarize(spans []span.Span, place PlaceFunc) (Summary, error) {
	traces := make(map[string]int32)
	var order [][]int32
	var sum Summary
	last, lastIdx := "", int32(-1)
	for i := range spans {
		s := &spans[i]
		if IsInvocation(s) {
			sum.Invocations++
		}
		t := lastIdx
		if lastIdx < 0 || s.TraceID != last {
			var ok bool
			t, ok = traces[s.TraceID]
			if !ok {
				t = int32(len(order))
				traces[s.TraceID] = t
				order = append(order, nil)
			}
			last, lastIdx = s.TraceID, t
		}
		order[t] = append(order[t], int32(i))
	}
	var r requestPricer
	for _, idx := range order {
		c, err := r.price(p, spans, idx, place)
		if err != nil {
			return Summary{}, fmt.Errorf("trace %q: %w", spans[idx[0]].TraceID, err)
		}
		sum.Total += c
	}
	sum.Requests = len(order)
	if sum.Requests > 0 {
		sum.PerRequest = sum.Total / float64(sum.Requests)
		sum.PerMillion = sum.PerRequest * 1e6
	}
	return sum, nil
}
