// Package simulate is a synthetic serverless environment for tests and
// benchmarks only: given a ground-truth application graph (each task's CPU
// and I/O time, each call's kind, count and payload) and a platform profile,
// it produces the spans a real deployment of any setup would record, with
// seeded noise, so optimizers can be run through propose → deploy → observe
// loops without hosts.
//
//	env := simulate.New(simulate.IoT(), profile.Default(), 1)
//	spans := env.Run(setup.Separate(1, env.Graph.TaskNames(), aws, 128), 200)
//	lat, perMillion, _ := env.Expected(s) // noise-free ground truth
//
// Semantics, shared with (but implemented apart from) the optimizer's model:
// a task runs half its own time, then its calls in order, then the other
// half. Own time is IOMs + CPUMs/speed, speed being the CPU share of the
// group's memory on its place, capped at one vCPU. An in-memory call costs
// nothing extra. A remote sync call blocks the caller for the callee's
// duration plus invoke overhead, round trip and payload transfer (and the
// cold start when the callee's instance is new). Consecutive calls marked
// Parallel start together and block until the last returns. An async call
// does not block the caller, as a host dispatches it in the background: a
// remote one starts after its dispatch (invoke overhead + round trip +
// input transfer), which the caller's invocation is billed for, an
// in-memory one at once, beside the caller. Hosts record every blocked
// time as Wait.
package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/profile"
)

// Task is a ground-truth task: CPUMs of work at one full vCPU plus IOMs of
// waiting that does not scale with CPU.
type Task struct {
	Name  string
	CPUMs float64
	IOMs  float64
}

// Call is a ground-truth call edge.
type Call struct {
	From, To string
	Async    bool
	Parallel bool // sync calls that start together with neighbouring Parallel calls
	Count    int  // calls per invocation of From; 0 means 1
	InBytes  int
	OutBytes int
}

// Graph is a ground-truth application.
type Graph struct {
	Name  string
	Entry string
	Tasks []Task
	Calls []Call
}

// TaskNames returns the task names in graph order.
func (g Graph) TaskNames() []string {
	out := make([]string, len(g.Tasks))
	for i, t := range g.Tasks {
		out[i] = t.Name
	}
	return out
}

// Env runs setups of a graph.
type Env struct {
	Graph    Graph
	Profile  *profile.Profile
	Prices   cost.Prices
	Noise    float64 // relative spread of own time (log-normal sigma)
	ColdRate float64 // probability that a remote invocation is cold
	Seed     uint64
	Start    time.Time

	idx   map[string]int
	calls [][]resolved
}

type resolved struct {
	Call
	to int
}

// New returns an Env with 10% noise and 1% cold starts.
func New(g Graph, p *profile.Profile, seed uint64) *Env {
	return &Env{Graph: g, Profile: p, Prices: cost.Default(), Noise: 0.1, ColdRate: 0.01, Seed: seed,
		Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (e *Env) init() {
	if e.idx != nil {
		return
	}
	e.idx = make(map[string]int, len(e.Graph.Tasks))
	for i, t := range e.Graph.Tasks {
		e.idx[t.Name] = i
	}
	e.calls = make([][]resolved, len(e.Graph.Tasks))
	for _, c := range e.Graph.Calls {
		f, ok1 := e.idx[c.From]
		t, ok2 := e.idx[c.To]
		if !ok1 || !ok2 {
			panic(fmt.Sprintf("simulate: call %s->%s names an unknown task", c.From, c.To))
		}
		if c.Count <= 0 {
			c.Count = 1
		}
		e.calls[f] = append(e.calls[f], resolved{c, t})
	}
}

type runner struct {
	e        *Env
	s        *setup.Setup
	rng      *rand.Rand
	noise    float64
	coldRate float64

	group     []int // per task
	names     []string
	places    []setup.Place
	mem       []int
	speed     []float64
	inv, cold []time.Duration
	rtt       [][]time.Duration

	out    []span.Span
	trace  string
	nextID uint64
	// dispatched is when the running invocation's last remote async
	// dispatch ends: the invocation is billed until then.
	dispatched time.Time
}

func (e *Env) runner(s *setup.Setup, noise, coldRate float64) *runner {
	e.init()
	r := &runner{e: e, s: s, noise: noise, coldRate: coldRate,
		rng:   rand.New(rand.NewPCG(e.Seed, uint64(s.Version))),
		group: make([]int, len(e.Graph.Tasks))}
	for i := range r.group {
		r.group[i] = -1
	}
	for gi, g := range s.Groups {
		r.names = append(r.names, g.Name)
		r.places = append(r.places, g.Place)
		r.mem = append(r.mem, g.MemoryMB)
		r.speed = append(r.speed, e.Profile.Speed(g.Place, g.MemoryMB))
		r.inv = append(r.inv, e.Profile.InvokeOverhead(g.Place))
		r.cold = append(r.cold, e.Profile.ColdStart(g.Place))
		for _, t := range g.Tasks {
			if i, ok := e.idx[t]; ok {
				r.group[i] = gi
			}
		}
	}
	for i, g := range r.group {
		if g < 0 {
			panic(fmt.Sprintf("simulate: task %s is in no group of setup %d", e.Graph.Tasks[i].Name, s.Version))
		}
	}
	r.rtt = make([][]time.Duration, len(s.Groups))
	for a := range s.Groups {
		r.rtt[a] = make([]time.Duration, len(s.Groups))
		for b := range s.Groups {
			r.rtt[a][b] = e.Profile.RTT(s.Groups[a].Place, s.Groups[b].Place)
		}
	}
	return r
}

// Run deploys s and returns the spans of requests requests, 50 ms apart.
// Noise is seeded by the Env's seed and the setup's version.
func (e *Env) Run(s *setup.Setup, requests int) []span.Span {
	r := e.runner(s, e.Noise, e.ColdRate)
	e.init()
	r.out = make([]span.Span, 0, requests*len(e.Graph.Tasks))
	entry := e.idx[e.Graph.Entry]
	prefix := "v" + strconv.FormatInt(s.Version, 10) + "-"
	for i := 0; i < requests; i++ {
		r.trace = prefix + strconv.Itoa(i)
		r.nextID = 1
		cold := r.rng.Float64() < r.coldRate
		start := e.Start.Add(time.Duration(i) * 50 * time.Millisecond)
		if cold {
			start = start.Add(r.cold[r.group[entry]])
		}
		r.exec(entry, start, 0, -1, false, false, cold, 0, 0)
	}
	return r.out
}

// Expected returns the noise-free latency of one request of s, with no cold
// starts, and its cost per million requests: the ground truth an optimizer
// is judged against.
func (e *Env) Expected(s *setup.Setup) (time.Duration, float64, error) {
	r := e.runner(s, 0, 0)
	r.trace = "expected"
	r.nextID = 1
	r.exec(e.idx[e.Graph.Entry], e.Start, 0, -1, false, false, false, 0, 0)
	sum, err := e.Prices.Summarize(r.out, cost.PlacesOf(s))
	if err != nil {
		return 0, 0, err
	}
	var lat time.Duration
	for _, sp := range r.out {
		if sp.Caller == "" {
			lat = sp.Duration
		}
	}
	return lat, sum.PerMillion, nil
}

func (r *runner) factor() float64 {
	if r.noise == 0 {
		return 1
	}
	return math.Exp(r.noise*r.rng.NormFloat64() - r.noise*r.noise/2)
}

func msDur(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// exec runs task t from start and returns its end.
func (r *runner) exec(t int, start time.Time, parent uint64, caller int, async, remote, cold bool, in, out int) time.Time {
	id := r.nextID
	r.nextID++
	invocation := remote || caller < 0
	if invocation {
		outer := r.dispatched
		r.dispatched = time.Time{}
		defer func() { r.dispatched = outer }()
	}
	task := &r.e.Graph.Tasks[t]
	g := r.group[t]
	own := msDur((task.IOMs + task.CPUMs/r.speed[g]) * r.factor())
	cursor := start.Add(own / 2)
	var wait time.Duration
	calls := r.e.calls[t]
	for i := 0; i < len(calls); {
		c := &calls[i]
		if !c.Async && c.Parallel {
			latest := cursor
			j := i
			for ; j < len(calls) && !calls[j].Async && calls[j].Parallel; j++ {
				for k := 0; k < calls[j].Count; k++ {
					if ret := r.syncCall(t, &calls[j], cursor, id); ret.After(latest) {
						latest = ret
					}
				}
			}
			wait += latest.Sub(cursor)
			cursor = latest
			i = j
			continue
		}
		for k := 0; k < c.Count; k++ {
			if c.Async {
				r.asyncCall(t, c, cursor, id)
			} else {
				ret := r.syncCall(t, c, cursor, id)
				wait += ret.Sub(cursor)
				cursor = ret
			}
		}
		i++
	}
	end := cursor.Add(own - own/2)
	sp := span.Span{
		TraceID: r.trace, ID: id, ParentID: parent, Task: task.Name, Async: async, Remote: remote,
		Group: r.names[g], Host: r.names[g] + "-host", SetupVersion: r.s.Version,
		Start: start, Duration: end.Sub(start), Wait: wait, MemoryMB: r.mem[g], Cold: cold,
		InputBytes: in, OutputBytes: out,
	}
	if caller >= 0 {
		sp.Caller = r.e.Graph.Tasks[caller].Name
	}
	if invocation {
		last := end
		if r.dispatched.After(last) {
			last = r.dispatched
		}
		sp.Billed, _ = r.e.Prices.Billed(r.places[g], last.Sub(start))
	}
	r.out = append(r.out, sp)
	return end
}

func (r *runner) syncCall(from int, c *resolved, at time.Time, parent uint64) time.Time {
	gf, gt := r.group[from], r.group[c.to]
	if gf == gt {
		return r.exec(c.to, at, parent, from, false, false, false, c.InBytes, c.OutBytes)
	}
	p := r.e.Profile
	half := r.inv[gt]/2 + r.rtt[gf][gt]/2
	cold := r.coldRate > 0 && r.rng.Float64() < r.coldRate
	start := at.Add(half + p.Transfer(c.InBytes))
	if cold {
		start = start.Add(r.cold[gt])
	}
	end := r.exec(c.to, start, parent, from, false, true, cold, c.InBytes, c.OutBytes)
	return end.Add(r.inv[gt] - r.inv[gt]/2 + r.rtt[gf][gt] - r.rtt[gf][gt]/2 + p.Transfer(c.OutBytes))
}

// asyncCall starts an async call in the background.
func (r *runner) asyncCall(from int, c *resolved, at time.Time, parent uint64) {
	gf, gt := r.group[from], r.group[c.to]
	if gf == gt {
		r.exec(c.to, at, parent, from, true, false, false, c.InBytes, 0)
		return
	}
	d := r.inv[gt] + r.rtt[gf][gt] + r.e.Profile.Transfer(c.InBytes)
	if at.Add(d).After(r.dispatched) {
		r.dispatched = at.Add(d)
	}
	cold := r.coldRate > 0 && r.rng.Float64() < r.coldRate
	start := at.Add(d)
	if cold {
		start = start.Add(r.cold[gt])
	}
	r.exec(c.to, start, parent, from, true, true, cold, c.InBytes, 0)
}

// Partitions calls fn with every partition of n items into blocks, as a
// block index per item (restricted growth strings). fn must not keep the
// slice.
func Partitions(n int, fn func(block []int, blocks int)) {
	a := make([]int, n)
	var rec func(i, m int)
	rec = func(i, m int) {
		if i == n {
			fn(a, m)
			return
		}
		for b := 0; b <= m && b < n; b++ {
			a[i] = b
			nm := m
			if b == m {
				nm = m + 1
			}
			rec(i+1, nm)
		}
	}
	if n == 0 {
		fn(a, 0)
		return
	}
	a[0] = 0
	rec(1, 1)
}

// SetupOf builds a setup from a partition of tasks, every group with memoryMB
// on place.
func SetupOf(version int64, tasks []string, block []int, blocks int, place setup.Place, memoryMB int) *setup.Setup {
	s := &setup.Setup{Version: version, Groups: make([]setup.Group, blocks)}
	for i, t := range tasks {
		g := &s.Groups[block[i]]
		g.Tasks = append(g.Tasks, t)
		g.MemoryMB = memoryMB
		g.Place = place
	}
	s.Normalize(true)
	return s
}

// Connected reports whether every block of a partition is connected in the
// undirected call graph of g (tasks in g order).
func (g Graph) Connected(block []int, blocks int) bool {
	idx := make(map[string]int, len(g.Tasks))
	for i, t := range g.Tasks {
		idx[t.Name] = i
	}
	parent := make([]int, len(g.Tasks))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	comps := len(g.Tasks)
	for _, c := range g.Calls {
		a, b := idx[c.From], idx[c.To]
		if block[a] != block[b] {
			continue
		}
		if ra, rb := find(a), find(b); ra != rb {
			parent[ra] = rb
			comps--
		}
	}
	return comps == blocks
}
