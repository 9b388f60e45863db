// Package analytics turns spans into the figures the optimizer learns from:
// each task's own time, each call edge's count, sync share and payload, billed
// time per group, end-to-end latency per setup version, the cold-start rate
// and the measured overhead of remote calls; with the platforms' reports
// (Report.AddBills) also each group's peak memory, cold-start rate and init
// time.
//
// Spans come from many hosts and clocks, so Analyze first rejects and counts
// bad ones (unknown task, negative or absurd durations, Wait > Duration,
// duplicate ids, clock skew against the parent) and learns only from the rest.
//
//	r := analytics.Analyze(spans, analytics.Options{Tasks: app.TaskNames(), Setups: []*setup.Setup{current}})
//	fmt.Println(r.Rejected.Total(), "bad spans")
//	fmt.Println(r.Latency[current.Version].P95)
//	for _, e := range r.EdgeList() { fmt.Println(e.Caller, "->", e.Callee, e.SyncShare()) }
//
// Analyze is a single pass plus one sort per trace; it handles a million
// spans in a few hundred milliseconds (see fuser/BENCHMARKS.fuser.md).
package analytics

import (
	"errors"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
)

// Defaults of Options.
const (
	DefaultMaxDuration   = span.MaxDuration
	DefaultSkewTolerance = time.Second
)

// Options tell Analyze what is valid and where groups ran.
type Options struct {
	// Tasks, when set, is the app's task set: spans naming another task (as
	// task or caller) are rejected.
	Tasks []string
	// Setups give the place of each group by setup version; spans of groups
	// not found get the place "?".
	Setups []*setup.Setup
	// MaxDuration bounds a plausible span; 0 means DefaultMaxDuration.
	MaxDuration time.Duration
	// SkewTolerance is how far a child may start before its parent, or a sync
	// child end after it; 0 means DefaultSkewTolerance.
	SkewTolerance time.Duration
}

// Reason says why a span was rejected.
type Reason string

// Rejection reasons.
const (
	UnknownTask Reason = "unknown task"
	BadDuration Reason = "negative or absurd duration"
	WaitTooLong Reason = "wait exceeds duration"
	DuplicateID Reason = "duplicate (trace, id)"
	ClockSkew   Reason = "clock skew against parent"
)

var reasons = [...]Reason{"", UnknownTask, BadDuration, WaitTooLong, DuplicateID, ClockSkew}

// Rejections counts rejected spans by reason.
type Rejections map[Reason]int

// Total returns the number of rejected spans.
func (r Rejections) Total() int {
	n := 0
	for _, c := range r {
		n += c
	}
	return n
}

// Dist summarizes a distribution of durations.
type Dist struct {
	Count               int
	Mean, P50, P95, P99 time.Duration
}

// Config is where a task ran: its group's place and memory size.
type Config struct {
	Place    string // "provider/region", "?" when unknown
	MemoryMB int
}

// ConfigStats is a task's own time in one Config.
type ConfigStats struct {
	Config
	Count int
	Mean  time.Duration
	// FirstCalls counts the task's first calls in a new execution
	// environment seen in this config (see Report.AddFirstCalls), and
	// FirstExtra sums how much longer each ran than the task's median
	// own time there (negative when one ran faster).
	FirstCalls int
	FirstExtra time.Duration
	// CPUCount counts the invocations in this config whose entry was this
	// task running alone (no task ran in memory under it) and that carry
	// their CPU time (span.Span.CPU); CPU is their mean CPU time: the
	// task's CPU work, which unlike its own time does not grow when the
	// platform throttles the environment to its share.
	CPUCount int
	CPU      time.Duration
}

// TaskStats describes one task.
type TaskStats struct {
	Task        string
	Invocations int
	Self        Dist          // own time: Duration − Wait
	ByConfig    []ConfigStats // own time per place and memory size
}

// Edge is a caller→callee pair.
type Edge struct{ Caller, Callee string }

// EdgeStats describes the calls along one edge.
type EdgeStats struct {
	Edge
	Calls        int
	Sync         int   // calls the caller waited on
	Remote       int   // calls that crossed a group boundary
	Overlapped   int   // sync calls that ran concurrently with a sibling sync call
	PayloadBytes int64 // input + output bytes, summed
	// PerRequest is Calls per request; PerInvocation is Calls per invocation
	// of the caller.
	PerRequest, PerInvocation float64
	// StartShare is where in the caller's duration the callee starts, on
	// average: 0 at the caller's start, 1 at its end (0.5 when unknown).
	StartShare float64
}

// SyncShare is the fraction of calls that were sync.
func (e *EdgeStats) SyncShare() float64 { return ratio(e.Sync, e.Calls) }

// ParallelShare is the fraction of sync calls that overlapped a sibling.
func (e *EdgeStats) ParallelShare() float64 { return ratio(e.Overlapped, e.Sync) }

// MeanPayload is the mean input + output bytes of a call.
func (e *EdgeStats) MeanPayload() float64 { return ratio64(e.PayloadBytes, e.Calls) }

// GroupStats describes the platform invocations of one group.
type GroupStats struct {
	Group       string
	Invocations int
	Cold        int
	Busy        time.Duration // summed wall time of its invocations (what is billed, before rounding)
	Billed      time.Duration // summed Billed as recorded by the hosts
	// CPUCount counts its invocations whose entry span carries their CPU
	// time (span.Span.CPU), and CPU is the sum of those.
	CPUCount int
	CPU      time.Duration
}

// Link is a pair of places ("provider/region") a remote call crossed.
type Link struct{ From, To string }

// OverheadStats is the measured overhead of remote calls over one link.
type OverheadStats struct {
	Link
	Count int
	Mean  time.Duration
}

// Report is what Analyze learned.
type Report struct {
	Spans    int // spans given
	Accepted int // spans learned from
	Rejected Rejections
	Orphans  int // accepted spans whose parent is not among the spans
	Requests int // accepted entry spans

	Tasks  map[string]*TaskStats
	Edges  map[Edge]*EdgeStats
	Groups map[string]*GroupStats
	// Latency is the end-to-end latency (entry span duration) per setup version.
	Latency map[int64]Dist
	// WarmLatency is Latency over the requests that met no cold start: no
	// span of theirs that was the entry or a sync call started cold. Its
	// tail is the tail of warm requests alone.
	WarmLatency map[int64]Dist
	// ClientTimed says Latency is what a client timed (SetLatency), from
	// sending a request to its answer, the entry's invocation included;
	// else it is the entry spans' durations.
	ClientTimed bool

	Invocations int // platform invocations: remote or entry spans
	ColdStarts  int
	ColdRate    float64

	// Overhead is the measured overhead of a remote call per link:
	// for each caller span, Wait minus the time covered by its sync
	// children's own spans, shared equally among its remote sync calls (a
	// cluster of overlapping ones counts once; a remote async call is
	// dispatched in the background and is not in the wait). It includes
	// invoke overhead, round trip
	// and payload transfer; callers with a cold child are left out (the cold
	// start would hide in the wait). It is approximate when a caller mixes
	// in-memory and remote children that overlap.
	Overhead map[Link]*OverheadStats

	// Platform is what the platforms reported per group (see AddBills);
	// Billed says whether any report was added. Without them cost comes
	// from the spans' own billed durations and memory is unknown.
	Platform map[string]*PlatformStats
	Billed   bool
}

// TaskNames returns the tasks seen, sorted.
func (r *Report) TaskNames() []string {
	out := make([]string, 0, len(r.Tasks))
	for t := range r.Tasks {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// EdgeList returns the edges sorted by caller, then callee.
func (r *Report) EdgeList() []*EdgeStats {
	out := make([]*EdgeStats, 0, len(r.Edges))
	for _, e := range r.Edges {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Caller != out[j].Caller {
			return out[i].Caller < out[j].Caller
		}
		return out[i].Callee < out[j].Callee
	})
	return out
}

// OverheadInto returns the mean measured overhead of remote calls into the
// place to, over all links, and how many calls it is based on.
func (r *Report) OverheadInto(to string) (time.Duration, int) {
	var sum float64
	n := 0
	for l, o := range r.Overhead {
		if l.To == to {
			sum += float64(o.Mean) * float64(o.Count)
			n += o.Count
		}
	}
	if n == 0 {
		return 0, 0
	}
	return time.Duration(sum / float64(n)), n
}

// OverheadByProvider returns the mean measured overhead of remote calls
// into each provider ("aws", "gcp", "local"), over all its regions.
func (r *Report) OverheadByProvider() map[string]time.Duration {
	sum := map[string]float64{}
	n := map[string]int{}
	for l, o := range r.Overhead {
		prov, _, _ := strings.Cut(l.To, "/")
		sum[prov] += float64(o.Mean) * float64(o.Count)
		n[prov] += o.Count
	}
	out := make(map[string]time.Duration, len(sum))
	for p, s := range sum {
		out[p] = time.Duration(s / float64(n[p]))
	}
	return out
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ratio64(a int64, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Validate returns the spans that pass every check and counts the others.
func Validate(spans []span.Span, opt Options) ([]span.Span, Rejections) {
	a := newAnalyzer(spans, opt)
	a.validate()
	out := make([]span.Span, 0, len(spans)-a.rejected)
	for i := range spans {
		if a.bad[i] == 0 {
			out = append(out, spans[i])
		}
	}
	return out, a.rejections()
}

// Analyze validates spans and summarizes the good ones.
func Analyze(spans []span.Span, opt Options) *Report {
	a := newAnalyzer(spans, opt)
	a.validate()
	return a.summarize()
}

type analyzer struct {
	spans []span.Span
	opt   Options

	taskIdx map[string]int32
	names   []string
	fixed   bool
	task    []int32 // per span: task index
	caller  []int32 // per span: caller index, -1 for the entry
	bad     []uint8 // per span: reason index, 0 when good

	order    []int32 // span indices grouped by trace, sorted by ID within
	traceOff []int32 // trace t holds order[traceOff[t]:traceOff[t+1]]
	parent   []int32 // per span: index of its parent span, -1 when absent
	pos      []int32 // per span: its position in its trace's part of order
	rejected int
	// aggWait is, per span, the time it waited on sync callees that only
	// aggregate spans stand for (span.Span.Count above 1): part of its
	// Wait that no child span's own interval shows.
	aggWait map[int32]int64
}

func newAnalyzer(spans []span.Span, opt Options) *analyzer {
	if opt.MaxDuration <= 0 {
		opt.MaxDuration = DefaultMaxDuration
	}
	if opt.SkewTolerance <= 0 {
		opt.SkewTolerance = DefaultSkewTolerance
	}
	a := &analyzer{spans: spans, opt: opt, taskIdx: make(map[string]int32)}
	for _, t := range opt.Tasks {
		if _, ok := a.taskIdx[t]; !ok {
			a.taskIdx[t] = int32(len(a.names))
			a.names = append(a.names, t)
		}
	}
	a.fixed = len(opt.Tasks) > 0
	return a
}

func (a *analyzer) lookup(name string) int32 {
	if i, ok := a.taskIdx[name]; ok {
		return i
	}
	if a.fixed {
		return -2
	}
	i := int32(len(a.names))
	a.taskIdx[name] = i
	a.names = append(a.names, name)
	return i
}

func (a *analyzer) reject(i int, r uint8) {
	if a.bad[i] == 0 {
		a.bad[i] = r
		a.rejected++
	}
}

func (a *analyzer) rejections() Rejections {
	r := Rejections{}
	for _, b := range a.bad {
		if b != 0 {
			r[reasons[b]]++
		}
	}
	return r
}

const (
	rUnknown uint8 = iota + 1
	rDuration
	rWait
	rDup
	rSkew
)

// checkSpan rejects span i when span.Validate refuses it or it lasts
// longer than Options.MaxDuration.
func (a *analyzer) checkSpan(i int, s *span.Span) {
	err := s.Validate()
	switch {
	case errors.Is(err, span.ErrBadWait):
		a.reject(i, rWait)
	case err != nil || s.Duration > a.opt.MaxDuration:
		a.reject(i, rDuration)
	}
}

func (a *analyzer) validate() {
	n := len(a.spans)
	a.task = make([]int32, n)
	a.caller = make([]int32, n)
	a.bad = make([]uint8, n)
	a.parent = make([]int32, n)
	traceOf := make([]int32, n)
	traces := make(map[string]int32)
	var counts []int32
	lastTrace, lastT := "", int32(-1)
	lastTask, lastTaskIdx := "", int32(-1)
	for i := range a.spans {
		s := &a.spans[i]
		// Task names repeat in runs (a host batches one group's spans).
		if lastTaskIdx == -1 || s.Task != lastTask {
			lastTask, lastTaskIdx = s.Task, a.lookup(s.Task)
		}
		a.task[i] = lastTaskIdx
		a.caller[i] = -1
		if s.Caller != "" {
			a.caller[i] = a.lookup(s.Caller)
		}
		switch {
		case a.task[i] < 0 || a.caller[i] == -2:
			a.reject(i, rUnknown)
		default:
			a.checkSpan(i, s)
		}
		if lastT < 0 || s.TraceID != lastTrace {
			t, ok := traces[s.TraceID]
			if !ok {
				t = int32(len(counts))
				traces[s.TraceID] = t
				counts = append(counts, 0)
			}
			lastTrace, lastT = s.TraceID, t
		}
		traceOf[i] = lastT
		counts[lastT]++
	}
	// Counting sort of span indices by trace.
	a.traceOff = make([]int32, len(counts)+1)
	for t, c := range counts {
		a.traceOff[t+1] = a.traceOff[t] + c
	}
	next := slices.Clone(a.traceOff[:len(counts)])
	a.order = make([]int32, n)
	for i, t := range traceOf {
		a.order[next[t]] = int32(i)
		next[t]++
	}
	tol := a.opt.SkewTolerance
	a.pos = make([]int32, n)
	var slot []int32
	for t := 0; t < len(counts); t++ {
		sub := a.order[a.traceOff[t]:a.traceOff[t+1]]
		slot = a.sortByID(sub, slot)
		for k := 1; k < len(sub); k++ {
			if a.spans[sub[k]].ID == a.spans[sub[k-1]].ID {
				a.reject(int(sub[k]), rDup)
			}
		}
		first := a.spans[sub[0]].ID
		for k, i := range sub {
			a.pos[i] = int32(k)
		}
		for _, i := range sub {
			s := &a.spans[i]
			a.parent[i] = -1
			if s.ParentID == 0 || s.ParentID == s.ID {
				continue
			}
			k, found := 0, false
			if d := s.ParentID - first; s.ParentID >= first && d < uint64(len(sub)) && a.spans[sub[d]].ID == s.ParentID {
				k, found = int(d), true
			} else {
				k, found = slices.BinarySearchFunc(sub, s.ParentID, func(x int32, id uint64) int {
					switch xi := a.spans[x].ID; {
					case xi < id:
						return -1
					case xi > id:
						return 1
					}
					return 0
				})
			}
			if !found {
				continue
			}
			pi := sub[k]
			a.parent[i] = pi
			p := &a.spans[pi]
			if s.Start.Before(p.Start.Add(-tol)) ||
				(!s.Async && s.Start.Add(s.Duration).After(p.Start.Add(p.Duration+tol))) {
				a.reject(int(i), rSkew)
			}
		}
	}
}

// sortByID sorts the span indices of one trace by span ID (then index). IDs
// are usually dense (1…n), so a counting placement does it in linear time;
// sparse or duplicate IDs fall back to a comparison sort.
func (a *analyzer) sortByID(sub, slot []int32) []int32 {
	lo, hi := uint64(math.MaxUint64), uint64(0)
	for _, i := range sub {
		id := a.spans[i].ID
		lo, hi = min(lo, id), max(hi, id)
	}
	if width := hi - lo; width < uint64(4*len(sub)) {
		w := int(width) + 1
		if cap(slot) < w {
			slot = make([]int32, w)
		}
		slot = slot[:w]
		for k := range slot {
			slot[k] = -1
		}
		dense := true
		for _, i := range sub {
			k := a.spans[i].ID - lo
			if slot[k] >= 0 {
				dense = false
				break
			}
			slot[k] = i
		}
		if dense {
			j := 0
			for _, i := range slot {
				if i >= 0 {
					sub[j] = i
					j++
				}
			}
			return slot
		}
	}
	slices.SortFunc(sub, func(x, y int32) int {
		ix, iy := a.spans[x].ID, a.spans[y].ID
		switch {
		case ix < iy:
			return -1
		case ix > iy:
			return 1
		}
		return int(x - y)
	})
	return slot
}

// kid is a child span of a caller, collected per trace.
type kid struct {
	parent     int32
	idx        int32
	start, end int64
	remote     bool
	async      bool
	cold       bool
}

type placeKey struct {
	v int64
	g string
}

func (a *analyzer) summarize() *Report {
	r := &Report{
		Spans:       len(a.spans),
		Accepted:    len(a.spans) - a.rejected,
		Rejected:    a.rejections(),
		Tasks:       make(map[string]*TaskStats),
		Edges:       make(map[Edge]*EdgeStats),
		Groups:      make(map[string]*GroupStats),
		Latency:     make(map[int64]Dist),
		WarmLatency: make(map[int64]Dist),
		Overhead:    make(map[Link]*OverheadStats),
	}
	nt := len(a.names)
	places := make(map[placeKey]string)
	for _, s := range a.opt.Setups {
		if s == nil {
			continue
		}
		for _, g := range s.Groups {
			places[placeKey{s.Version, g.Name}] = g.Place.String()
		}
	}
	// A task's group rarely changes within a batch: cache its place per task.
	type placeCache struct {
		v     int64
		g     string
		place string
		ok    bool
	}
	pcache := make([]placeCache, nt)
	placeOf := func(i int32) string {
		s := &a.spans[i]
		c := &pcache[a.task[i]]
		if c.ok && c.v == s.SetupVersion && c.g == s.Group {
			return c.place
		}
		p, ok := places[placeKey{s.SetupVersion, s.Group}]
		if !ok {
			p = "?"
		}
		*c = placeCache{s.SetupVersion, s.Group, p, true}
		return p
	}

	// Own times of all tasks in one array, a slice per task.
	// An aggregate span (Count above 1) counts as the calls it stands
	// for; its own time is the mean of the edge's timed calls, which are
	// samples already, so it adds none to Self.
	invocations := make([]int, nt)
	timed := make([]int, nt)
	for i, t := range a.task {
		if a.bad[i] == 0 {
			invocations[t] += a.spans[i].Calls()
			if a.spans[i].Calls() == 1 {
				timed[t]++
			}
		}
	}
	backing := make([]int64, 0, len(a.spans)-a.rejected)
	selfs := make([][]int64, nt)
	for t := range selfs {
		selfs[t] = backing[len(backing) : len(backing) : len(backing)+timed[t]]
		backing = backing[:len(backing)+timed[t]]
	}
	type cfgAcc struct {
		cfg    Config
		n      int
		sum    float64
		cpuN   int
		cpuSum float64
	}
	cfgs := make([][]cfgAcc, nt)
	edgeIdx := make(map[uint64]int32)
	type edgeAcc struct {
		caller, callee                  int32
		calls, sync, remote, overlapped int
		payload                         int64
		at                              float64
		atN                             int
	}
	var edges []edgeAcc
	groupIdx := make(map[string]int32)
	var groups []*GroupStats
	lastGroup, lastG := "", int32(-1)
	latency := make(map[int64][]int64)
	warm := make(map[int64][]int64)

	// Spans that ran a task in memory under them: their CPU time is not
	// their task's alone.
	hosts := make([]bool, len(a.spans))
	for i := range a.spans {
		if p := a.parent[i]; p >= 0 && a.bad[i] == 0 && !a.spans[i].Remote {
			hosts[p] = true
		}
	}

	var kids, sorted []kid
	var counts []int32
	for tr := 0; tr+1 < len(a.traceOff); tr++ {
		sub := a.order[a.traceOff[tr]:a.traceOff[tr+1]]
		kids = kids[:0]
		coldSync, entry := false, int32(-1) // the request waited for a cold start; its entry span
		for _, i := range sub {
			if a.bad[i] != 0 {
				continue
			}
			s := &a.spans[i]
			t := a.task[i]
			n := s.Calls()
			self := int64(s.Self())
			if n == 1 {
				selfs[t] = append(selfs[t], self)
			}
			pl := placeOf(i)
			cs := cfgs[t]
			k := 0
			for k < len(cs) && !(cs[k].cfg.MemoryMB == s.MemoryMB && cs[k].cfg.Place == pl) {
				k++
			}
			if k == len(cs) {
				cs = append(cs, cfgAcc{cfg: Config{pl, s.MemoryMB}})
				cfgs[t] = cs
			}
			cs[k].n += n
			cs[k].sum += float64(self) * float64(n)
			if s.CPU > 0 && !hosts[i] && (s.Remote || s.Caller == "") {
				cs[k].cpuN++
				cs[k].cpuSum += float64(s.CPU)
			}
			if c := a.caller[i]; c >= 0 {
				key := uint64(uint32(c))<<32 | uint64(uint32(t))
				e, ok := edgeIdx[key]
				if !ok {
					e = int32(len(edges))
					edgeIdx[key] = e
					edges = append(edges, edgeAcc{caller: c, callee: t})
				}
				ea := &edges[e]
				ea.calls += n
				if !s.Async {
					ea.sync += n
				}
				if s.Remote {
					ea.remote += n
				}
				ea.payload += int64(s.InputBytes+s.OutputBytes) * int64(n)
			}
			p := a.parent[i]
			if s.ParentID != 0 && p < 0 {
				r.Orphans++
			}
			if n > 1 {
				// An aggregate has no interval of its own (its Start is the
				// first timed call's): no start share, no overlap; what its
				// calls took is part of the parent's wait.
				if p >= 0 && !s.Async {
					if a.aggWait == nil {
						a.aggWait = map[int32]int64{}
					}
					a.aggWait[p] += int64(s.Duration) * int64(n)
				}
				continue
			}
			if c := a.caller[i]; c >= 0 && p >= 0 {
				if ps := &a.spans[p]; ps.Duration > 0 {
					ea := &edges[edgeIdx[uint64(uint32(c))<<32|uint64(uint32(t))]]
					ea.at += min(max(float64(s.Start.Sub(ps.Start))/float64(ps.Duration), 0), 1)
					ea.atN++
				}
			}
			if p >= 0 && a.bad[p] == 0 && (s.Remote || !s.Async) {
				// A child its caller waited on (sync) or dispatched (remote async).
				st := s.Start.UnixNano()
				kids = append(kids, kid{parent: p, idx: i, start: st, end: st + int64(s.Duration), remote: s.Remote, async: s.Async, cold: s.Cold})
			}
			if s.Remote || s.Caller == "" {
				if lastG < 0 || s.Group != lastGroup {
					g, ok := groupIdx[s.Group]
					if !ok {
						g = int32(len(groups))
						groupIdx[s.Group] = g
						groups = append(groups, &GroupStats{Group: s.Group})
					}
					lastGroup, lastG = s.Group, g
				}
				gs := groups[lastG]
				gs.Invocations++
				gs.Busy += s.Duration
				gs.Billed += s.Billed
				if s.CPU > 0 {
					gs.CPUCount++
					gs.CPU += s.CPU
				}
				r.Invocations++
				if s.Cold {
					gs.Cold++
					r.ColdStarts++
				}
			}
			if ColdOnTheWay(s) {
				coldSync = true
			}
			if s.Caller == "" {
				entry = i
				r.Requests++
				latency[s.SetupVersion] = append(latency[s.SetupVersion], int64(s.Duration))
			}
		}
		if entry >= 0 && !coldSync {
			e := &a.spans[entry]
			warm[e.SetupVersion] = append(warm[e.SetupVersion], int64(e.Duration))
		}
		if len(kids) == 0 {
			continue
		}
		// Group the children by their caller's position in the trace
		// (counting sort), then order each caller's children by start;
		// they mostly arrive in start order already.
		if cap(counts) < len(sub)+1 {
			counts = make([]int32, len(sub)+1)
		}
		counts = counts[:len(sub)+1]
		clear(counts)
		for _, k := range kids {
			counts[a.pos[k.parent]+1]++
		}
		for j := 1; j < len(counts); j++ {
			counts[j] += counts[j-1]
		}
		if cap(sorted) < len(kids) {
			sorted = make([]kid, len(kids))
		}
		sorted = sorted[:len(kids)]
		for _, k := range kids {
			p := a.pos[k.parent]
			sorted[counts[p]] = k
			counts[p]++
		}
		for lo := 0; lo < len(sorted); {
			hi := lo + 1
			for hi < len(sorted) && sorted[hi].parent == sorted[lo].parent {
				hi++
			}
			g := sorted[lo:hi]
			for x := 1; x < len(g); x++ { // insertion sort by (start, idx)
				for y := x; y > 0 && (g[y].start < g[y-1].start || (g[y].start == g[y-1].start && g[y].idx < g[y-1].idx)); y-- {
					g[y], g[y-1] = g[y-1], g[y]
				}
			}
			a.caller1(r, g, edgeIdx, placeOf, func(e int32) { edges[e].overlapped++ })
			lo = hi
		}
	}

	for t := 0; t < nt; t++ {
		if invocations[t] == 0 {
			continue
		}
		ts := &TaskStats{Task: a.names[t], Invocations: invocations[t], Self: dist(selfs[t])}
		for _, c := range cfgs[t] {
			cst := ConfigStats{Config: c.cfg, Count: c.n, Mean: time.Duration(c.sum / float64(c.n)), CPUCount: c.cpuN}
			if c.cpuN > 0 {
				cst.CPU = time.Duration(c.cpuSum / float64(c.cpuN))
			}
			ts.ByConfig = append(ts.ByConfig, cst)
		}
		sort.Slice(ts.ByConfig, func(i, j int) bool {
			x, y := ts.ByConfig[i], ts.ByConfig[j]
			if x.Place != y.Place {
				return x.Place < y.Place
			}
			return x.MemoryMB < y.MemoryMB
		})
		r.Tasks[ts.Task] = ts
	}
	for _, e := range edges {
		es := &EdgeStats{
			Edge:  Edge{a.names[e.caller], a.names[e.callee]},
			Calls: e.calls, Sync: e.sync, Remote: e.remote, Overlapped: e.overlapped, PayloadBytes: e.payload,
			PerRequest:    ratio(e.calls, r.Requests),
			PerInvocation: ratio(e.calls, invocations[e.caller]),
			StartShare:    0.5,
		}
		if e.atN > 0 {
			es.StartShare = e.at / float64(e.atN)
		}
		r.Edges[es.Edge] = es
	}
	for _, g := range groups {
		r.Groups[g.Group] = g
	}
	for v, l := range latency {
		r.Latency[v] = dist(l)
	}
	for v, l := range warm {
		r.WarmLatency[v] = dist(l)
	}
	r.ColdRate = ratio(r.ColdStarts, r.Invocations)
	for _, o := range r.Overhead {
		o.Mean = time.Duration(float64(o.Mean) / float64(o.Count)) // summed until here
	}
	return r
}

// caller1 handles the children of one caller span, sorted by start.
func (a *analyzer) caller1(r *Report, kids []kid, edgeIdx map[uint64]int32, placeOf func(int32) string, overlapped func(int32)) {
	p := &a.spans[kids[0].parent]
	var union int64
	events := 0
	curEnd := int64(math.MinInt64)
	clusterStart := 0
	clusterRemote := false
	clusterSize := 0
	var clusterLen int64
	closeCluster := func(end int) {
		if clusterSize > 1 {
			for _, k := range kids[clusterStart:end] {
				if !k.async {
					e := edgeIdx[uint64(uint32(a.caller[k.idx]))<<32|uint64(uint32(a.task[k.idx]))]
					overlapped(e)
				}
			}
		}
		if clusterRemote {
			events++
		}
		union += clusterLen
	}
	syncSeen := false
	for j, k := range kids {
		if k.async { // dispatched in the background: not in the caller's wait
			continue
		}
		if syncSeen && k.start < curEnd {
			if k.end > curEnd {
				clusterLen += k.end - curEnd
				curEnd = k.end
			}
			clusterRemote = clusterRemote || k.remote
			clusterSize++
			continue
		}
		if syncSeen {
			closeCluster(j)
		}
		syncSeen = true
		clusterStart, curEnd, clusterLen, clusterRemote, clusterSize = j, k.end, k.end-k.start, k.remote, 1
	}
	if syncSeen {
		// close the last cluster: it ends at the last sync kid; async kids in
		// between were skipped, so count overlap only among sync kids.
		closeCluster(len(kids))
	}
	if events == 0 {
		return
	}
	for _, k := range kids {
		if k.cold {
			return // a cold start hides in the wait; the cold-start rate covers it
		}
	}
	transport := int64(p.Wait) - union - a.aggWait[kids[0].parent]
	if transport < 0 {
		return
	}
	per := float64(transport) / float64(events)
	from := placeOf(kids[0].parent)
	for _, k := range kids {
		if !k.remote || k.async {
			continue
		}
		l := Link{from, placeOf(k.idx)}
		o := r.Overhead[l]
		if o == nil {
			o = &OverheadStats{Link: l}
			r.Overhead[l] = o
		}
		o.Count++
		o.Mean += time.Duration(per)
	}
}

// ColdOnTheWay reports whether sp is a cold start its request waited for:
// the entry's invocation or a sync call's started a new environment. A
// request with none is warm (Report.WarmLatency).
func ColdOnTheWay(sp *span.Span) bool {
	return sp.Cold && !sp.Async && (sp.Remote || sp.Caller == "")
}

// dist summarizes v (nearest-rank percentiles), reordering it. It selects
// the three ranks in linear time rather than sorting.
func dist(v []int64) Dist {
	if len(v) == 0 {
		return Dist{}
	}
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	rank := func(p float64) int { return max(int(math.Ceil(p*float64(len(v))))-1, 0) }
	k99, k95, k50 := rank(0.99), rank(0.95), rank(0.50)
	sel(v, k99)
	sel(v[:k99+1], k95)
	sel(v[:k95+1], k50)
	return Dist{Count: len(v), Mean: time.Duration(sum / float64(len(v))),
		P50: time.Duration(v[k50]), P95: time.Duration(v[k95]), P99: time.Duration(v[k99])}
}

// sel reorders v so that v[k] is the k-th smallest, everything before it no
// larger and everything after no smaller (quickselect, median of three).
func sel(v []int64, k int) {
	lo, hi := 0, len(v)-1
	for hi-lo > 16 {
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		pivot := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
	slices.Sort(v[lo : hi+1])
}
