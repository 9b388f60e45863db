package optimize

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/profile"
)

// Learned is a model of an application learned from spans: it predicts the
// latency and cost of any setup without deploying it.
//
// What it knows, and from where:
//   - each task's own time as a + b/speed, speed being the CPU share of its
//     group's memory on its place (capped at one vCPU): fitted by least
//     squares over every place and memory size the task was measured in,
//     to the median own time for latency and to the mean for cost (what
//     an invocation is billed) and OwnTime; with a single memory size it
//     assumes all of it is CPU time (a = 0);
//   - or, when the platforms' runtimes measured every task's CPU time
//     (span.Span.CPU on entry spans; learnCPU), its own time at full
//     speed and its CPU time per call, and what an invocation costs
//     beyond its tasks; each invocation then runs under its environment's
//     CPU quota, which its sync path and the in-memory async work beside
//     it spend together (cfs.go), in place of processor sharing;
//   - where a runtime answers only once that async work is done (a Cloud
//     Function: answersAfterAsync), its caller waits for it too;
//   - each call edge's calls per invocation, sync or async, parallel or not
//     (sync siblings whose spans overlapped) and mean payload;
//   - each place's invoke overhead: measured remote-call overhead minus the
//     profile's round trip, else the profile's figure; scaled by one factor
//     fitted so that the measured setups' paths meet their measured p50s
//     (fitHops: own times are trusted, the hops take the difference);
//   - cold starts per place from the platforms' reports: the share of
//     invocations that started cold, apart for groups invoked async (their
//     calls arrive in bursts and start more environments) and the others,
//     and a group's init as base + per task, at one vCPU, scaled by its CPU
//     share; without reports, the profile's delay times the measured rate;
//   - each task's memory footprint and the host's base, from the max memory
//     used the platforms reported (see PeakMB, Fits);
//   - per group measured on the platforms (its tasks, place, memory and
//     modules): how much longer its warm invocations ran than the path
//     predicts (learnRuns), which a candidate holding the same group is
//     billed for;
//   - per task, how much longer its first call in a new environment runs
//     than a typical one, at one vCPU, from the spans of the platforms'
//     cold invocations (learnFirst): a cold start is billed its init and
//     those first calls;
//   - per sync path measured (the groups holding the tasks the entry
//     reaches by sync calls): the warm requests' p95 − p50 (learnTails),
//     which a candidate with the same sync path takes as its warm tail;
//   - prices from package cost, round trips and CPU shares from package profile;
//   - from every measured setup, measured ÷ predicted for its p50, p95 and
//     cost: a measured setup is predicted as it measured; any other's p95
//     is its p50 plus its sync path's measured tail, else its p50 times
//     the measured setups' mean p95/p50; neither its p50 nor its cost is
//     corrected.
//
// Latency (the median) is the critical path of sync calls from the entry
// for a request that meets no cold start: the entry's invocation when the
// latency is a client's (its invoke overhead), a task's own time (half
// before its calls, half after; calls in the order the spans show), plus
// each sync call (the callee's latency, and for a remote call the invoke
// overhead + round trip + payload transfer), parallel sync calls counting
// once at their maximum. In-memory calls cost nothing extra; async calls
// do not add to the caller's latency: a host runs an in-memory one beside
// the caller and dispatches a remote one in the background, and the
// caller's invocation is billed until that dispatch is done. Cost is, for every platform
// invocation (the entry and every remote call), the request fee plus its
// billed time × the price of its memory on its place, rounded up as the
// platform rounds (Lambda 1 ms, Cloud Run 100 ms), where billed time is the
// invocation's expected duration (its path with the expected cold start of
// each remote sync callee; callers are billed while they wait) plus however
// long in-memory async tasks under it outlast it, plus the expected billed
// init of its own cold start (custom runtimes are billed for init) and the
// first calls that cold start runs. Those
// in-memory tasks share the environment's CPU with their caller for the
// CPU part of their work (processor sharing; waits overlap), unless
// ModelConfig.AsyncOwnCPU. Breakdown takes a prediction apart.
type Learned struct {
	obj   App
	tasks []string
	idx   map[string]int
	entry int
	a, b  []float64 // mean own time in ms: a + b/speed
	// am, bm fit the median own time the same way; latency uses it: a
	// request's typical latency is made of typical own times, and the mean
	// is the median plus outliers (a key-value write queued behind others,
	// a call answered late, the machine's contention) that make it two to
	// three times the median on the emulators. What is billed is an
	// invocation's mean duration, so cost runs the mean own times (paths
	// with expected).
	am, bm []float64
	ownMed [][]float64
	out    [][]medge // outgoing edges, back edges of cycles removed
	in     [][]inEdge
	adj    [][]int // undirected neighbours, for search moves and connectivity
	post   []int   // callees before callers
	prof   *profile.Profile
	prices cost.Prices
	places []setup.Place
	inv    []float64 // ms per place
	// coldMs is, per place without platform reports, the expected
	// cold-start delay of an invocation (the profile's delay × the measured
	// rate); coldCPU says the place has reports, and coldInit uses the
	// rates and init fitted from them instead.
	coldMs  []float64
	coldCPU []bool
	// settles says, per place, that its runtime answers a request only once
	// the invocation's in-memory async work is done (answersAfterAsync).
	settles []bool
	// coldRate is, per place, the share of invocations that started cold
	// for each kind of invocation (coldSync, coldAsync, coldBusy);
	// initPerModule × its Go modules + initPerLight × its other modules
	// (WAT, AssemblyScript: no runtime to start) is a group's init at one
	// vCPU.
	coldRate                    [][coldKinds]float64
	initPerLight, initPerModule []float64
	rtt                         [][]float64
	fee                         []float64
	granMs                      []float64
	mems                        [][]int // memory sizes to search, per place
	cfgs                        []cfgT  // every (place, memory) the search may pick
	own                         [][]float64
	p95                         float64 // the warm requests' p95/p50
	p95Busy                     float64 // the same where the entry's group runs async work in memory
	// hopScale multiplies every place's invoke overhead (inv): fitted so
	// that the measured setups' paths meet their measured p50 (fitHops).
	hopScale float64
	// clientTimed says the primary report's latency is a client's
	// (analytics.Report.ClientTimed): a path then starts with the entry's
	// invocation.
	clientTimed bool
	fits        map[string]setupFit // by Key: measured ÷ predicted
	conf        float64             // relative half-width of a prediction
	ownCPU      bool                // ModelConfig.AsyncOwnCPU
	mem         memoryFit
	fusable     []taskFusion // per task: what module fusion does with it (fusion.go)
	notes       []string
	// window is how many requests a measured window holds (the primary
	// report's), which decides how many cold requests reach its p95.
	window int
	// onPath says which tasks are on the entry's sync path (reached from
	// it by sync calls); tails is, by the groups that hold them (pathKey),
	// the warm requests' p95 − p50 (ms) measured with those groups.
	onPath []bool
	tails  map[uint64]float64
	// runs is, by groupKeys, what a measured group's warm invocations ran
	// longer than the model's path for them (ms, mean over windows).
	runs map[uint64]float64
	// first is, per task, how much longer its first call in a new
	// environment runs than its typical call, in ms at one vCPU
	// (learnFirst); nil when no cold invocation showed one.
	first []float64
	// cpu is, per task, the CPU time (ms) of one call, measured where it
	// ran alone in its invocation (analytics.ConfigStats.CPU); when every
	// task has it, own times are at full speed and each invocation runs
	// under its environment's CPU quota (learnCPU, cfs.go). nil: no CPU
	// time was measured, and CPU work takes own time ÷ the CPU share.
	// cpuInv is the CPU time (ms) an invocation costs beyond its tasks'
	// (the runtime, the transport, the remote calls it makes), which
	// each task's CPU time measured alone included.
	cpu    []float64
	cpuInv float64
}

// setupFit is what a measured setup measured over what the model predicts
// for it: factors for its p50, its p95 and its cost.
type setupFit struct{ p50, p95, cost float64 }

type medge struct {
	to        int
	n         float64 // calls per invocation of the caller
	sync, par bool
	xferMs    float64
	at        float64 // where in the caller's duration the call starts (0…1)
}

type inEdge struct {
	from   int
	perReq float64
	sync   bool
}

type cfgT struct {
	place  int
	mem    int
	speed  float64
	vcpu   float64 // quotaShare
	perSec float64
}

func (l *Learned) placeIndex(p setup.Place) int {
	for i, q := range l.places {
		if q == p {
			return i
		}
	}
	return -1
}

// parsePlace reads "provider/region" as written by setup.Place.String.
func parsePlace(s string) (setup.Place, bool) {
	if s == "" || s == "?" {
		return setup.Place{}, false
	}
	prov, region, _ := strings.Cut(s, "/")
	return setup.Place{Provider: prov, Region: region}, true
}

// learn fits a model from the input's reports.
func (m *Model) learn(in Input) (*Learned, error) {
	cfg := m.cfg
	l := &Learned{obj: in.App, tasks: in.App.Tasks, idx: map[string]int{}, prof: cfg.Profile, prices: *cfg.Prices,
		p95: 1.3, p95Busy: 1.3, hopScale: 1, conf: DefaultConfidence, ownCPU: cfg.AsyncOwnCPU}
	for i, t := range l.tasks {
		l.idx[t] = i
	}
	l.entry = l.idx[in.App.Entry]
	l.fusable = fusableFlags(in.App, l.tasks)
	n := len(l.tasks)

	// Reports: the current one first, then the history's, each once.
	var reports []*analytics.Report
	if in.Report != nil {
		reports = append(reports, in.Report)
	}
	for i := len(in.History) - 1; i >= 0; i-- {
		if r := in.History[i].Report; r != nil && !slices.Contains(reports, r) {
			reports = append(reports, r)
		}
	}
	if len(reports) == 0 {
		return nil, fmt.Errorf("model: %w", ErrNoData)
	}
	primary := reports[0]
	l.clientTimed = primary.ClientTimed
	l.window = DefaultWindow
	if primary.Requests > 0 {
		l.window = primary.Requests
	}

	// Places: candidates, then every place seen in the setups.
	addPlace := func(p setup.Place) {
		if l.placeIndex(p) < 0 {
			l.places = append(l.places, p)
		}
	}
	for _, p := range cfg.Places {
		addPlace(p)
	}
	candidates := len(l.places)
	if in.Current != nil {
		for _, g := range in.Current.Groups {
			addPlace(g.Place)
		}
	}
	if candidates == 0 {
		candidates = len(l.places)
	}
	for _, it := range in.History {
		if it.Setup != nil {
			for _, g := range it.Setup.Groups {
				addPlace(g.Place)
			}
		}
	}
	if len(l.places) == 0 {
		return nil, fmt.Errorf("%w: no place to deploy to (set ModelConfig.Places)", ErrBadInput)
	}

	// Own time per task.
	l.a, l.b = make([]float64, n), make([]float64, n)
	l.am, l.bm = make([]float64, n), make([]float64, n)
	fitted2 := 0
	for t, name := range l.tasks {
		var xs, ys, ms50, ws []float64
		eachConfig(reports, name, func(ts *analytics.TaskStats, c analytics.ConfigStats, p setup.Place) {
			xs = append(xs, 1/l.prof.Speed(p, c.MemoryMB))
			ys = append(ys, float64(c.Mean)/1e6)
			ws = append(ws, float64(c.Count))
			ms50 = append(ms50, configMedianMs(ts, c))
		})
		var two bool
		l.am[t], l.bm[t], _ = fitOwn(xs, ms50, ws)
		l.a[t], l.b[t], two = fitOwn(xs, ys, ws)
		if two {
			fitted2++
		}
	}
	l.notes = append(l.notes, fmt.Sprintf("own time of %d tasks learned, %d from two or more CPU shares", n, fitted2))
	l.learnCPU(reports, in)
	l.mem = fitMemory(l.tasks, l.idx, l.fusable, reports)
	if l.mem.observed > 0 {
		l.notes = append(l.notes, fmt.Sprintf("memory: host base %.0f MB + per-task footprints, fitted to the max memory used the platforms reported for %d groups; a module-fused group %.1f MB per fused task past its largest (%d module-fused groups reported)", l.mem.base, l.mem.observed, l.mem.moduleTask, l.mem.moduleObserved))
	} else {
		l.notes = append(l.notes, fmt.Sprintf("memory: no max memory used reported yet; priors %.0f MB per host + %.0f MB per task", DefaultHostBaseMB, DefaultTaskFootprintMB))
	}

	// Edges from the primary report.
	l.out, l.in, l.adj = make([][]medge, n), make([][]inEdge, n), make([][]int, n)
	bw := l.prof.BandwidthMBps
	for _, e := range primary.EdgeList() {
		f, ok1 := l.idx[e.Caller]
		t, ok2 := l.idx[e.Callee]
		if !ok1 || !ok2 || f == t {
			continue
		}
		// Where a call starts: averaged over every report, since a setup
		// where calls do not block (in memory, async) hides their order.
		var atSum, atW float64
		for _, r := range reports {
			if re := r.Edges[e.Edge]; re != nil {
				atSum += re.StartShare * float64(re.Calls)
				atW += float64(re.Calls)
			}
		}
		me := medge{to: t, n: e.PerInvocation, sync: e.SyncShare() >= 0.5, par: e.ParallelShare() >= 0.5, at: atSum / atW}
		if bw > 0 {
			me.xferMs = e.MeanPayload() / (bw * 1e6) * 1e3
		}
		l.out[f] = append(l.out[f], me)
		l.in[t] = append(l.in[t], inEdge{from: f, perReq: e.PerRequest, sync: me.sync})
		if !slices.Contains(l.adj[f], t) {
			l.adj[f] = append(l.adj[f], t)
			l.adj[t] = append(l.adj[t], f)
		}
	}
	for f := range l.out { // calls in the order they start
		slices.SortStableFunc(l.out[f], func(a, b medge) int {
			switch {
			case a.at < b.at:
				return -1
			case a.at > b.at:
				return 1
			}
			return 0
		})
	}
	l.order()
	l.onPath = make([]bool, n)
	for stack := []int{l.entry}; len(stack) > 0; {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if l.onPath[t] {
			continue
		}
		l.onPath[t] = true
		for _, e := range l.out[t] {
			if e.sync {
				stack = append(stack, e.to)
			}
		}
	}

	// Platforms.
	np := len(l.places)
	l.inv, l.coldMs, l.fee, l.granMs = make([]float64, np), make([]float64, np), make([]float64, np), make([]float64, np)
	l.coldCPU, l.settles = make([]bool, np), make([]bool, np)
	for i, p := range l.places {
		l.settles[i] = answersAfterAsync(p)
	}
	l.coldRate, l.initPerLight, l.initPerModule = make([][coldKinds]float64, np), make([]float64, np), make([]float64, np)
	l.rtt = make([][]float64, np)
	for i, p := range l.places {
		l.rtt[i] = make([]float64, np)
		for j, q := range l.places {
			l.rtt[i][j] = ms(l.prof.RTT(p, q))
		}
	}
	learned := map[int][2]float64{} // place -> sum, count
	for _, r := range reports {
		for link, o := range r.Overhead {
			from, ok1 := parsePlace(link.From)
			to, ok2 := parsePlace(link.To)
			if !ok1 || !ok2 {
				continue
			}
			j := l.placeIndex(to)
			if j < 0 {
				continue
			}
			v := learned[j]
			v[0] += (ms(o.Mean) - ms(l.prof.RTT(from, to))) * float64(o.Count)
			v[1] += float64(o.Count)
			learned[j] = v
		}
	}
	for i, p := range l.places {
		l.inv[i] = ms(l.prof.InvokeOverhead(p))
		if v := learned[i]; v[1] >= 10 {
			l.inv[i] = max(v[0]/v[1], 0)
			l.notes = append(l.notes, fmt.Sprintf("invoke overhead %s: %.1f ms measured over %d calls (profile says %.1f ms, emulated)",
				p, l.inv[i], int(v[1]), ms(l.prof.InvokeOverhead(p))))
		}
		l.coldMs[i] = primary.ColdRate * ms(l.prof.ColdStart(p))
		if rates, perModule, perLight, ok := l.coldOn(reports, p); ok {
			l.coldRate[i], l.initPerModule[i], l.initPerLight[i], l.coldCPU[i] = rates, perModule, perLight, true
			l.notes = append(l.notes, fmt.Sprintf("cold starts on %s: %.1f%% of sync and entry invocations, %.1f%% of async ones, %.1f%% of those whose async work outlasts the answer; init %.1f ms per Go module and %.1f ms per other module at one vCPU, from the platform's reports",
				p, 100*rates[coldSync], 100*rates[coldAsync], 100*rates[coldBusy], perModule, perLight))
		}
		fee, err := l.prices.RequestFee(p)
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		l.fee[i] = fee
		g, _ := l.prices.Billed(p, time.Nanosecond)
		l.granMs[i] = ms(g)
	}
	l.notes = append(l.notes, fmt.Sprintf("cold-start rate %.1f%%", 100*primary.ColdRate))

	// Configurations the search may pick: candidate places × their memories.
	l.mems = make([][]int, np)
	for i, p := range l.places {
		if i >= candidates {
			continue
		}
		l.mems[i] = cfg.memories(p.Provider)
		for _, mem := range l.mems[i] {
			ps, err := l.prices.PerSecond(p, mem)
			if err != nil {
				return nil, fmt.Errorf("model: %w", err)
			}
			l.cfgs = append(l.cfgs, cfgT{place: i, mem: mem, speed: l.prof.Speed(p, mem), vcpu: l.quotaShare(p, mem), perSec: ps})
		}
	}
	l.own, l.ownMed = make([][]float64, n), make([][]float64, n)
	for t := range l.own {
		l.own[t], l.ownMed[t] = make([]float64, len(l.cfgs)), make([]float64, len(l.cfgs))
		for c, cf := range l.cfgs {
			l.own[t][c] = l.a[t] + l.b[t]/cf.speed
			l.ownMed[t][c] = l.am[t] + l.bm[t]/cf.speed
		}
	}

	// Corrections from every measured setup: each keeps its own
	// (measured ÷ predicted, so a setup already measured is predicted as
	// it measured); the rest take the measured p95/p50 where no measured
	// sync path gives their tail (their p50 comes from the path, whose
	// invoke overhead fitHops fitted).
	if in.Current != nil {
		if d, ok := primary.Latency[in.Current.Version]; ok && d.P50 > 0 {
			l.p95 = min(max(float64(d.P95)/float64(d.P50), 1), 5)
			l.p95Busy = l.p95
		}
	}
	// The warm tail (p95/p50) is learned from the requests that met no
	// cold start (analytics.Report.WarmLatency) of every measured setup,
	// else from the measured setups whose p95 the model does not expect to
	// be a cold start's, else from all.
	l.fits = map[string]setupFit{}
	var s95, s95all, k95 float64
	// Apart for setups whose entry group runs in-memory async work (it
	// shares the environment's CPU with the next requests' work less
	// evenly: a longer tail).
	var sw, kw [2]float64
	for _, it := range in.History {
		if it.Report == nil || it.Setup == nil {
			continue
		}
		if d, ok := it.Report.WarmLatency[it.Setup.Version]; ok && d.Count >= 10 && d.P50 > 0 {
			b := 0
			if g, ok := it.Setup.GroupOf(in.App.Entry); ok && asyncInside(it.Report, g.Tasks) {
				b = 1
			}
			sw[b] += math.Log(max(float64(d.P95)/float64(d.P50), 1))
			kw[b]++
		}
	}
	l.fitHops(in.History)
	l.learnTails(in.History)
	l.learnRuns(in.History)
	l.learnFirst(reports)
	for _, it := range in.History {
		if !it.Measured() || it.Setup == nil || it.P95Ms <= 0 || it.CostPerMillionUSD <= 0 {
			continue
		}
		r, err := l.raw(it.Setup)
		if err != nil || r.lat <= 0 || r.cost <= 0 {
			continue
		}
		f := setupFit{p50: it.P50Ms / r.lat, p95: it.P95Ms / r.lat, cost: it.CostPerMillionUSD / (r.cost * 1e6)}
		l.fits[Key(it.Setup)] = f
		s95all += math.Log(f.p95 / f.p50)
		if l.coldWeight(r.coldP) < 0.05 {
			s95 += math.Log(f.p95 / f.p50)
			k95++
		}
	}
	if len(l.fits) > 0 {
		var s50, sc float64
		for _, f := range l.fits {
			s50 += math.Log(f.p50)
			sc += math.Log(f.cost)
		}
		k := float64(len(l.fits))
		switch {
		case kw[0]+kw[1] > 0:
			s95, k95 = sw[0]+sw[1], kw[0]+kw[1]
		case k95 == 0:
			s95, k95 = s95all, k
		}
		l.p95 = min(max(math.Exp(s95/k95), 1), 5)
		l.p95Busy = l.p95
		if kw[0] > 0 {
			l.p95 = min(max(math.Exp(sw[0]/kw[0]), 1), 5)
		}
		if kw[1] > 0 {
			l.p95Busy = min(max(math.Exp(sw[1]/kw[1]), 1), 5)
		}
		l.notes = append(l.notes, fmt.Sprintf("measured ÷ predicted over %d measured setups: p50 %.3f, cost %.3f on average (neither corrects a setup not measured; each measured setup keeps its own); p95/p50 %.2f", len(l.fits), math.Exp(s50/k), math.Exp(sc/k), l.p95))
		l.notes = append(l.notes, fmt.Sprintf("warm requests' p95/p50: %.2f, %.2f where the entry's group runs async work in memory", l.p95, l.p95Busy))
	}
	l.conf = confidence(in.History)
	return l, nil
}

// learnTails learns, from every measured window of at least 10 warm
// requests, the warm p95 − p50 by the groups that held the sync path
// (pathKey), averaged over the windows that had the same.
func (l *Learned) learnTails(history []Observation) {
	var tails means
	var buf evalBuf
	for _, it := range history {
		if it.Report == nil || it.Setup == nil {
			continue
		}
		d, ok := it.Report.WarmLatency[it.Setup.Version]
		if !ok || d.Count < 10 || d.P50 <= 0 {
			continue
		}
		group, gp, err := l.compile(it.Setup)
		if err != nil {
			continue
		}
		tails.add(l.pathKey(group, groupKeys(group, gp, &buf), &buf), ms(d.P95-d.P50))
	}
	if l.tails = tails.mean(); l.tails == nil {
		return
	}
	l.notes = append(l.notes, fmt.Sprintf("warm tail (p95 − p50) measured for %d sync paths; a setup whose sync path runs in the same groups takes it", len(l.tails)))
}

// learnRuns learns, for every group measured with at least 10 warm
// invocations, how much longer its invocations ran than the model's path
// predicts for them (the mean warm duration the platform billed less the
// mean predicted run of the invocations into it), averaged over windows.
// What it holds is what the spans do not: a request held at its CPU quota
// (the mean of a bimodal duration, where the path is the typical
// request's), the host's own work around the tasks.
func (l *Learned) learnRuns(history []Observation) {
	var runs means
	for _, it := range history {
		if it.Report == nil || it.Setup == nil || len(it.Report.Platform) == 0 {
			continue
		}
		group, gp, err := l.compile(it.Setup)
		if err != nil {
			continue
		}
		b := &Breakdown{Tasks: make([]TaskPart, len(l.tasks))}
		buf := evalBuf{tr: b}
		l.eval(group, gp, &buf)
		gk := groupKeys(group, gp, &buf)
		for gi, g := range it.Setup.Groups {
			ps := it.Report.Platform[g.Name]
			if ps == nil || ps.Warm < 10 {
				continue
			}
			var run, w float64
			for _, inv := range b.Invocations {
				if slices.Contains(g.Tasks, inv.Task) {
					run += inv.RunMs * inv.PerRequest
					w += inv.PerRequest
				}
			}
			if w == 0 {
				continue
			}
			runs.add(gk[gi], ms(ps.WarmDuration)/float64(ps.Warm)-run/w)
		}
	}
	if l.runs = runs.mean(); l.runs == nil {
		return
	}
	l.notes = append(l.notes, fmt.Sprintf("billed runs: %d measured groups are billed as they ran", len(l.runs)))
}

// fitHops fits hopScale, the factor on every invoke overhead, to the
// measured setups' p50: the path of a setup is its own times (trusted: in
// the environments' time, from the spans) plus its hops (each remote sync
// call's invoke overhead, and the entry's when the latency is a client's),
// and the hops' factor is the least-squares fit, in relative error, of
// own + factor × hops to the measured p50s, drawn toward 1 by a weak prior
// (a setup without hops says nothing of them). The invoke overhead is
// measured from spans on the machine's clock: a caller's wait less its
// callees' durations, which holds the emulator's and the SDK's work on a
// shared machine at whatever load it had; the client's p50 says what it
// came to.
func (l *Learned) fitHops(history []Observation) {
	const prior = 0.05
	num, den := prior, prior
	n := 0
	for _, it := range history {
		if !it.Measured() || it.Setup == nil || it.P50Ms <= 0 {
			continue
		}
		group, gp, err := l.compile(it.Setup)
		if err != nil {
			continue
		}
		l.hopScale = 0
		own, _ := l.eval(group, gp, &evalBuf{})
		l.hopScale = 1
		withHops, _ := l.eval(group, gp, &evalBuf{})
		hops, m := withHops-own, it.P50Ms
		num += (m - own) * hops / (m * m)
		den += hops * hops / (m * m)
		n++
	}
	l.hopScale = min(max(num/den, 0), MaxCorrection)
	l.notes = append(l.notes, fmt.Sprintf("invoke overhead ×%.3f, fitted to %d measured setups' p50", l.hopScale, n))
}

// learnFirst learns each task's first-call time from the platforms' cold
// invocations (analytics.Report.AddFirstCalls): the mean of what its first
// calls ran over its median own time, each scaled by its CPU share to one
// vCPU, as a cold start's first calls are work done once per environment
// (a table built, a cache filled, the runtime warmed). A task no cold
// invocation showed costs nothing extra.
func (l *Learned) learnFirst(reports []*analytics.Report) {
	var sum, n []float64
	for _, r := range reports {
		for t, name := range l.tasks {
			ts := r.Tasks[name]
			if ts == nil {
				continue
			}
			for _, c := range ts.ByConfig {
				p, ok := parsePlace(c.Place)
				if !ok || c.FirstCalls == 0 {
					continue
				}
				if sum == nil {
					sum, n = make([]float64, len(l.tasks)), make([]float64, len(l.tasks))
				}
				sum[t] += ms(c.FirstExtra) * l.prof.Speed(p, c.MemoryMB)
				n[t] += float64(c.FirstCalls)
			}
		}
	}
	if sum == nil {
		return
	}
	l.first = make([]float64, len(l.tasks))
	var shown []string
	for t := range l.tasks {
		if n[t] > 0 {
			l.first[t] = max(sum[t]/n[t], 0)
		}
		if l.first[t] >= 1 {
			shown = append(shown, fmt.Sprintf("%s %.0f ms", l.tasks[t], l.first[t]))
		}
	}
	if len(shown) > 0 {
		l.notes = append(l.notes, "first calls in a new environment, beyond a typical call, at one vCPU: "+strings.Join(shown, ", "))
	}
}

// firstCalls sets f[t], what a cold start of t's environment adds to an
// invocation of t beyond its init: the first calls of t and of the tasks
// it reaches in memory, at their group's CPU share.
func (l *Learned) firstCalls(group []int32, gp []gparam, f []float64) {
	for _, t := range l.post {
		v := l.first[t] / gp[group[t]].speed
		for _, e := range l.out[t] {
			if group[e.to] == group[t] {
				v += f[e.to]
			}
		}
		f[t] = v
	}
}

// firstOf is f[t], 0 when f is nil (no first calls learned).
func firstOf(f []float64, t int) float64 {
	if f == nil {
		return 0
	}
	return f[t]
}

// means averages values by key.
type means struct{ sum, n map[uint64]float64 }

func (m *means) add(k uint64, v float64) {
	if m.sum == nil {
		m.sum, m.n = map[uint64]float64{}, map[uint64]float64{}
	}
	m.sum[k] += v
	m.n[k]++
}

// mean is the mean per key, nil when nothing was added.
func (m *means) mean() map[uint64]float64 {
	if len(m.sum) == 0 {
		return nil
	}
	out := make(map[uint64]float64, len(m.sum))
	for k, v := range m.sum {
		out[k] = v / m.n[k]
	}
	return out
}

// DefaultConfidence is a prediction's relative half-width before any of the
// model's predictions was measured; MaxCorrection bounds the factor the
// invoke overhead is scaled by (fitHops).
const (
	DefaultConfidence = 0.25
	MaxCorrection     = 4.0
	// DefaultWindow is the window's size in requests when the report does
	// not say (the loop's default window).
	DefaultWindow = 120
	// DefaultBusyColdRate is the prior share of cold starts of a group
	// whose in-memory async work outlasts its answer, where the history
	// has no async callee's rate to borrow either: 3 of 96 invocations in
	// the window after the warm-up, measured on the emulated Lambda for
	// slowbranch fused into one group at 512 MB (BENCHMARKS.md, "Latency
	// with the machine's stretch taken out"). Windows of 24 requests timed
	// in wall time had measured 4–8 in 24; most of that was this machine's
	// CPUs, which held each environment's async work longer.
	DefaultBusyColdRate = 3.0 / 96
)

// confidence is the model's own relative half-width: the median relative
// error of its past predictions on median latency and cost, at least 10%.
func confidence(history []Observation) float64 {
	var errs []float64
	for _, o := range history {
		if o.Predicted == nil || !o.Measured() {
			continue
		}
		for _, f := range [][2]float64{{o.Predicted.P50Ms, o.P50Ms}, {o.Predicted.CostPerMillionUSD, o.CostPerMillionUSD}} {
			if f[0] > 0 {
				errs = append(errs, math.Abs(f[1]-f[0])/f[0])
			}
		}
	}
	if len(errs) == 0 {
		return DefaultConfidence
	}
	slices.Sort(errs)
	return min(max(errs[len(errs)/2], 0.1), 1)
}

// The kinds of invocation a group's cold-start rate is learned and
// predicted for. With one request per execution environment, a group needs
// as many environments as it has invocations in flight: a group invoked
// sync or as the entry needs about one per request in flight; one invoked
// async gets its events in bursts; one whose in-memory async work outlasts
// its answer (busy) keeps each environment after the answer, so the next
// request meets a fresh one more often.
const (
	coldSync  = iota // sync or the entry, nothing outlasts the answer
	coldAsync        // invoked async
	coldBusy         // sync or the entry, in-memory async work outlasting the answer
	coldKinds
)

// coldOn returns, for groups on place p, the cold-start rate of each kind
// of invocation (coldSync, coldAsync, coldBusy; a kind never measured
// takes the rate of all invocations, coldBusy's is shrunk toward
// DefaultBusyColdRate), and
// a group's init time at one vCPU as perModule × the Go modules it loads
// + perLight × its other modules (init × the group's CPU share: loading
// modules is CPU work; a Go module starts a runtime, a WAT or
// AssemblyScript one barely anything), fitted by least squares over every
// group the platforms reported a cold start for, pooled over every report.
func (l *Learned) coldOn(reports []*analytics.Report, p setup.Place) (rates [coldKinds]float64, perModule, perLight float64, ok bool) {
	key := p.String()
	var inv, cold [coldKinds]int
	var hs, xs, ys, ws []float64
	for _, r := range reports {
		for _, ps := range r.Platform {
			if ps.Place != key || ps.Invocations == 0 {
				continue
			}
			k := coldSync
			switch {
			case invokedAsync(r, ps.Tasks):
				k = coldAsync
			case asyncInside(r, ps.Tasks):
				k = coldBusy
			}
			inv[k] += ps.Invocations
			cold[k] += ps.Cold
			if ps.Cold > 0 {
				light := float64(l.lightModules(ps.Tasks))
				hs = append(hs, max(l.modules(ps.Tasks, ps.Fusion == setup.FusionModule)-light, 0))
				xs = append(xs, light)
				ys = append(ys, ms(ps.InitMean)*l.prof.Speed(p, ps.MemoryMB))
				ws = append(ws, float64(ps.Cold))
			}
		}
	}
	var allInv, allCold int
	for k := range inv {
		allInv += inv[k]
		allCold += cold[k]
	}
	if allInv == 0 {
		return rates, 0, 0, false
	}
	all := float64(allCold) / float64(allInv)
	for k := range rates {
		rates[k] = all
		if inv[k] > 0 {
			rates[k] = float64(cold[k]) / float64(inv[k])
		}
	}
	// A busy group's environments stay taken after the answer, as an
	// async callee's stay taken for its work, so its rate is shrunk toward
	// the async callees' measured rate (DefaultBusyColdRate where none was
	// measured) by one short window's worth of invocations, so that the
	// one or two busy groups a history holds, or none, do not decide it
	// alone.
	const prior = 24.0
	busyPrior := DefaultBusyColdRate
	if inv[coldAsync] > 0 {
		busyPrior = rates[coldAsync]
	}
	rates[coldBusy] = (float64(cold[coldBusy]) + prior*busyPrior) / (float64(inv[coldBusy]) + prior)
	perModule, perLight = fitInit(hs, xs, ys, ws)
	return rates, perModule, perLight, true
}

// asyncInside reports whether a group of tasks made async calls inside
// itself in r: in-memory work that may outlast the group's answer.
func asyncInside(r *analytics.Report, tasks []string) bool {
	for _, e := range r.Edges {
		if e.Calls > e.Sync && slices.Contains(tasks, e.Callee) && slices.Contains(tasks, e.Caller) {
			return true
		}
	}
	return false
}

// invokedAsync reports whether the calls into a group of tasks from
// outside it were mostly async in r.
func invokedAsync(r *analytics.Report, tasks []string) bool {
	var sync, async int
	for _, e := range r.Edges {
		if slices.Contains(tasks, e.Callee) && !slices.Contains(tasks, e.Caller) {
			sync += e.Sync
			async += e.Calls - e.Sync
		}
	}
	return async > sync
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// eachConfig calls f for every config task ran in with calls, in every
// report, with the config's place parsed (configs on an unknown place are
// skipped).
func eachConfig(reports []*analytics.Report, task string, f func(ts *analytics.TaskStats, c analytics.ConfigStats, p setup.Place)) {
	for _, r := range reports {
		ts := r.Tasks[task]
		if ts == nil {
			continue
		}
		for _, c := range ts.ByConfig {
			if p, ok := parsePlace(c.Place); ok && c.Count > 0 {
				f(ts, c, p)
			}
		}
	}
}

// configMedianMs is the median own time (ms) of task stats ts in one of
// its configs c: exact when the task ran in one config in the report, else
// the config's mean scaled by the task's median-to-mean ratio.
func configMedianMs(ts *analytics.TaskStats, c analytics.ConfigStats) float64 {
	if len(ts.ByConfig) > 1 && ts.Self.Mean > 0 {
		return ms(c.Mean) * float64(ts.Self.P50) / float64(ts.Self.Mean)
	}
	return ms(ts.Self.P50)
}

// fitOwn fits y = a + b·x by weighted least squares, a, b ≥ 0; with one
// distinct x it returns a = 0. two reports whether x varied.
func fitOwn(xs, ys, ws []float64) (a, b float64, two bool) {
	if len(xs) == 0 {
		return 0, 0, false
	}
	var W, sx, sy float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range xs {
		W += ws[i]
		sx += ws[i] * xs[i]
		sy += ws[i] * ys[i]
		lo, hi = min(lo, xs[i]), max(hi, xs[i])
	}
	xm, ym := sx/W, sy/W
	if hi <= lo*1.05 {
		return 0, ym / xm, false
	}
	var sxx, sxy, sxy0, sxx0 float64
	for i := range xs {
		dx := xs[i] - xm
		sxx += ws[i] * dx * dx
		sxy += ws[i] * dx * (ys[i] - ym)
		sxx0 += ws[i] * xs[i] * xs[i]
		sxy0 += ws[i] * xs[i] * ys[i]
	}
	b = sxy / sxx
	a = ym - b*xm
	switch {
	case b < 0:
		return ym, 0, true
	case a < 0:
		return 0, sxy0 / sxx0, true
	}
	return a, b, true
}

// order computes a post-order from the entry and drops edges that close a
// cycle, so every prediction is one pass over tasks.
func (l *Learned) order() {
	n := len(l.tasks)
	state := make([]uint8, n) // 0 new, 1 on stack, 2 done
	l.post = l.post[:0]
	type frame struct{ t, i int }
	visit := func(root int) {
		stack := []frame{{root, 0}}
		state[root] = 1
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.i < len(l.out[f.t]) {
				e := l.out[f.t][f.i]
				switch state[e.to] {
				case 1: // back edge: drop it
					l.out[f.t] = slices.Delete(l.out[f.t], f.i, f.i+1)
					continue
				case 0:
					state[e.to] = 1
					f.i++
					stack = append(stack, frame{e.to, 0})
					continue
				}
				f.i++
				continue
			}
			state[f.t] = 2
			l.post = append(l.post, f.t)
			stack = stack[:len(stack)-1]
		}
	}
	visit(l.entry)
	for t := 0; t < n; t++ {
		if state[t] == 0 {
			visit(t)
		}
	}
}

// gparam is one group's configuration during an evaluation.
type gparam struct {
	place  int
	cfg    int // index into cfgs, or -1
	speed  float64
	vcpu   float64 // the share its CPU quota is of a vCPU (quotaShare)
	perSec float64
	mem    int // memory size, MB
	tasks  int // tasks in the group
	// fusable counts its tasks module fusion links, isolated says one is
	// isolated; modules is what its init loads (setModules).
	fusable  int
	isolated bool
	modules  float64
	light    int // tasks with a module of their own that is not Go (ownModule)
}

// setModules sets the modules a group the search proposes loads: the
// model module-fuses every group of two or more fusable tasks and no
// isolated one (fusion.go), which loads one module for those.
func (g *gparam) setModules() { g.modules = modulesLoaded(g.tasks, g.fusable, g.isolated) }

type evalBuf struct {
	d, x, xb, c, f []float64
	tr             *Breakdown // when set, eval records its components here
	// coldP is the share of requests that meet a cold start on their sync
	// path (the entry's environment or a remote sync callee's) and coldMs
	// what such a request waits for it on average: eval sets them.
	coldP, coldMs float64
	busy          bool // the entry's group runs async work in memory (coldBusy)
	// quotaTail is how much longer than a typical request the entry's
	// invocation takes at the 95th percentile of its CPU quota period's
	// phases (cfsTimes; 0 without measured CPU times).
	quotaTail float64
	// tail is the warm p95 − p50 (ms) measured with this setup's sync-path
	// groups, when tailOK (Learned.tails); gh and counted are groupKeys'
	// and pathKey's scratch.
	tail    float64
	tailOK  bool
	gh      []uint64
	counted []bool
}

// pred is the raw prediction of the setup eval last evaluated into buf,
// whose latency and cost it returned.
func (buf *evalBuf) pred(lat, cost float64) rawPred {
	return rawPred{lat: lat, coldP: buf.coldP, coldMs: buf.coldMs, cost: cost, busy: buf.busy, tail: buf.tail, tailOK: buf.tailOK, quotaTail: buf.quotaTail}
}

// groupKeys sets buf.gh to a key per group of the setup: its tasks, place,
// memory and the modules it loads. Groups of two setups with the same key
// run in the same kind of environment.
func groupKeys(group []int32, gp []gparam, buf *evalBuf) []uint64 {
	if cap(buf.gh) < len(gp) {
		buf.gh = make([]uint64, len(gp))
	}
	gh := buf.gh[:len(gp)]
	clear(gh)
	for t, g := range group {
		gh[g] += mix(uint64(t) + 1)
	}
	for g := range gh {
		p := &gp[g]
		gh[g] = mix(gh[g] ^ mix(uint64(p.place)<<40|uint64(p.mem)<<8|uint64(math.Round(p.modules))))
	}
	return gh
}

// pathKey identifies the groups that hold the entry's sync path (onPath)
// by their groupKeys: two setups with the same key run a request's sync
// path in the same environments.
func (l *Learned) pathKey(group []int32, gk []uint64, buf *evalBuf) uint64 {
	if cap(buf.counted) < len(gk) {
		buf.counted = make([]bool, len(gk))
	}
	counted := buf.counted[:len(gk)]
	clear(counted)
	var key, n uint64
	for t, g := range group {
		if l.onPath[t] && !counted[g] {
			counted[g] = true
			key += gk[g]
			n++
		}
	}
	return key ^ n
}

// mix is splitmix64's finalizer: a well-spread hash of x.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// eval returns the latency (ms, uncorrected) of a request that meets no
// cold start, which is the median while fewer than half the requests meet
// one, and the expected cost per request ($, uncorrected: cold starts, their
// wait and their billed init included) of tasks assigned to groups
// (group[t]) with params gp. It leaves in buf the share of requests that
// meet a cold start and how long they wait for it, which the p95 takes.
func (l *Learned) eval(group []int32, gp []gparam, buf *evalBuf) (float64, float64) {
	n := len(l.tasks)
	if cap(buf.d) < n {
		buf.d, buf.x, buf.xb, buf.c = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	}
	buf.quotaTail = 0
	d, x, xb, c := buf.d[:n], buf.x[:n], buf.xb[:n], buf.c[:n]
	var f []float64
	if l.first != nil {
		if cap(buf.f) < n {
			buf.f = make([]float64, n)
		}
		f = buf.f[:n]
		l.firstCalls(group, gp, f)
	}
	warm := l.paths(group, gp, d, x, xb, c, f, false, buf.tr, &buf.quotaTail)
	l.paths(group, gp, d, x, xb, c, f, true, nil, nil)
	if l.clientTimed {
		// What a client times starts with the entry's invocation.
		warm += l.inv[gp[group[l.entry]].place] * l.hopScale
	}
	var costReq, coldP, coldW float64
	var gk []uint64
	buf.tail, buf.tailOK = 0, false
	if len(l.tails) > 0 || len(l.runs) > 0 {
		gk = groupKeys(group, gp, buf)
	}
	for t := 0; t < n; t++ {
		g := &gp[group[t]]
		r, async, rsync := 0.0, 0.0, 0.0
		if t == l.entry {
			r, rsync = 1, 1
		}
		for _, e := range l.in[t] {
			if group[e.from] != group[t] {
				r += e.perReq
				if !e.sync {
					async += e.perReq
				} else {
					rsync += e.perReq
				}
			}
		}
		if r == 0 {
			continue
		}
		kind := coldSync
		switch {
		case async > r/2:
			kind = coldAsync
		case x[t] > d[t]/4:
			kind = coldBusy
		}
		if t == l.entry {
			buf.busy = kind == coldBusy
		}
		billed := d[t] + xb[t]
		if len(l.runs) > 0 {
			// A group measured in this environment is billed as it ran
			// there: its invocations' measured warm duration over the
			// model's path (see learnRuns).
			billed = max(billed+l.runs[gk[group[t]]], 0)
		}
		run, init, first := billed, 0.0, firstOf(f, t)
		if l.coldCPU[g.place] {
			// Custom runtimes are billed for their init phase: the
			// expected init of a cold invocation, at the group's speed,
			// and the first calls its new environment runs.
			init = l.coldInit(g, kind, first)
			billed += init
			if full := l.initMs(g) + first; full > 0 && rsync > 0 {
				p := min(rsync*init/full, 1)
				coldP += p
				coldW += p * full
			}
		}
		if gr := l.granMs[g.place]; gr > 0 {
			billed = math.Ceil(billed/gr-1e-9) * gr
		}
		costReq += r * (l.fee[g.place] + billed/1e3*g.perSec)
		if buf.tr != nil {
			buf.tr.Invocations = append(buf.tr.Invocations, InvocationPart{Task: l.tasks[t], Place: l.places[g.place].String(), PerRequest: r,
				RunMs: run, InitMs: init, BilledMs: billed, ColdStartMs: l.initMs(g) + first, FeeUSD: l.fee[g.place], CostUSD: r * (l.fee[g.place] + billed/1e3*g.perSec)})
		}
	}
	buf.coldP, buf.coldMs = min(coldP, 1), 0
	if coldP > 0 {
		buf.coldMs = coldW / coldP
	}
	if len(l.tails) > 0 {
		buf.tail, buf.tailOK = l.tails[l.pathKey(group, gk, buf)]
	}
	return warm, costReq
}

// initMs is group g's init time at its CPU share when its environment
// starts cold, from the platform's reports (0 without them).
func (l *Learned) initMs(g *gparam) float64 {
	if !l.coldCPU[g.place] {
		return 0
	}
	light := float64(g.light)
	heavy := max(g.modules-light, 0)
	if heavy+light == 0 {
		heavy = 1
	}
	return (l.initPerModule[g.place]*heavy + l.initPerLight[g.place]*light) / g.speed
}

// coldInit is the expected cold-start time of one invocation of group g
// invoked as kind says (coldSync, coldAsync, coldBusy): the cold-start
// rate of its place for that kind times its init, which loads each of its
// modules at its CPU share, and first, the first calls a new environment
// runs for that invocation (firstCalls); without platform reports, the
// profile's delay times the measured rate.
func (l *Learned) coldInit(g *gparam, kind int, first float64) float64 {
	if !l.coldCPU[g.place] {
		return l.coldMs[g.place]
	}
	return l.coldRate[g.place][kind] * (l.initMs(g) + first)
}

// paths computes each task's duration d, how long in-memory work under it
// outlasts it x (xb: also its remote async dispatches, done in the
// background, which its invocation is billed for) and the CPU time c of
// everything it runs in its environment,
// callees first. expected gives what is billed on average: mean own times
// and the expected cold start (init and first calls, f from firstCalls,
// nil for none) on every remote sync call; without it the path is a
// typical warm request's, from median own times. It returns the entry's
// duration, and sets *quotaTail (when not nil) to how much longer than
// that the entry's invocation takes at the 95th percentile of its quota
// period's phases.
func (l *Learned) paths(group []int32, gp []gparam, d, x, xb, c, f []float64, expected bool, tr *Breakdown, quotaTail *float64) float64 {
	withCold := expected
	fa, fb, fown := l.am, l.bm, l.ownMed
	if expected {
		// What is billed on average runs mean own times: an own time's
		// spread is mostly waits (a key-value write queued, a call
		// answered late), which lengthen the mean and not the median.
		fa, fb, fown = l.a, l.b, l.own
	}
	for _, t := range l.post {
		g := &gp[group[t]]
		// own is t's own time, cpu the CPU time of t and (below) its
		// in-memory sync callees: with measured CPU times, at full speed
		// and the CPU time as measured (the quota is applied per
		// invocation below); else CPU work at the group's share.
		var own, cpu float64
		switch {
		case l.cpu != nil:
			own, cpu = fa[t], l.cpu[t]
		case g.cfg >= 0:
			own = fown[t][g.cfg]
			cpu = max(own-fa[t], 0)
		default:
			own = fa[t] + fb[t]/g.speed
			cpu = fb[t] / g.speed
		}
		if tr != nil {
			tr.Tasks[t] = TaskPart{Task: l.tasks[t], Place: l.places[g.place].String(), Speed: g.speed, OwnMs: own, CPUMs: cpu, OtherMs: max(own-cpu, 0)}
		}
		// Own time splits around the calls, which run in the order the
		// spans showed (learn sorts edges by StartShare); consecutive
		// parallel sync calls block once, for the longest.
		cursor := own / 2
		end := 0.0  // when in-memory work under t ends
		endB := 0.0 // when its remote async dispatches and what is under its in-memory callees end
		parStart, parMax, inPar := 0.0, 0.0, false
		// In-memory work that may outlast t shares the environment's CPU
		// with t: from the first such call on, t and that work run on one
		// CPU share (Lambda gives at most one vCPU below 1769 MB; Cloud Run
		// one below 2 GiB), so they take turns for the CPU part of their
		// work; waits (I/O, sleeps, remote calls) overlap freely.
		bgAt, bgWork := -1.0, 0.0
		root := t == l.entry // t begins an invocation of its environment
		for _, e := range l.in[t] {
			root = root || group[e.from] != group[t]
		}
		for i := range l.out[t] {
			e := &l.out[t][i]
			u := e.to
			if inPar && !(e.sync && e.par) {
				cursor, inPar = parStart+parMax, false
			}
			local := group[u] == group[t]
			var block float64
			if local {
				if e.sync {
					block = d[u]
					cpu += e.n * c[u]
				}
			} else {
				gu := &gp[group[u]]
				pu := gu.place
				hop := l.inv[pu]*l.hopScale + l.rtt[g.place][pu] + e.xferMs
				cold := 0.0
				if e.sync {
					cold = l.coldInit(gu, coldSync, firstOf(f, u))
					block = d[u] + hop
					if withCold {
						block += cold
					}
				} else {
					block = hop
				}
				if tr != nil {
					tr.Calls = append(tr.Calls, CallPart{Caller: l.tasks[t], Callee: l.tasks[u], From: l.places[g.place].String(), To: l.places[pu].String(),
						Sync: e.sync, PerInvocation: e.n, InvokeMs: l.inv[pu], RTTMs: l.rtt[g.place][pu], TransferMs: e.xferMs, ColdMs: cold})
				}
			}
			at := cursor
			if !local && !e.sync {
				// The host dispatches a remote async call in the
				// background: the caller goes on at once, and its
				// invocation ends (and is billed) once the callee's
				// platform accepted the call.
				endB = max(endB, at+block)
				continue
			}
			if local {
				endB = max(endB, at+d[u]+xb[u])
			}
			if e.sync && e.par {
				if !inPar {
					parStart, parMax, inPar = cursor, 0, true
				}
				at = parStart
				parMax = max(parMax, block)
			} else {
				cursor += e.n * block
			}
			if local && (!e.sync || x[u] > 0) {
				// In-memory work that may outlast t: an async callee, or
				// what an in-memory callee left running.
				w := 0.0 // CPU work of what outlasts: the async subtree's
				if !e.sync {
					w = e.n * c[u]
				} else if d[u]+x[u] > 0 {
					w = c[u] * x[u] / (d[u] + x[u])
				}
				if bgAt < 0 {
					bgAt = at
				}
				bgWork += w
				end = max(end, at+d[u]+x[u])
			}
		}
		if inPar {
			cursor = parStart + parMax
		}
		d[t] = cursor + own - own/2
		shared := 0.0
		if bgAt >= 0 && !l.ownCPU && l.cpu == nil {
			// Processor sharing from bgAt, for the CPU parts: t's
			// remaining CPU work r (its share of what is left of it) and
			// the background's w; t is delayed by min(r, w), the
			// background ends no earlier than r + w after bgAt.
			rem := max(d[t]-bgAt, 0)
			r := rem
			if d[t] > 0 {
				r = min(rem, cpu*rem/d[t])
			}
			shared = min(r, bgWork)
			d[t] += shared
			end = max(end, bgAt+r+bgWork)
		}
		x[t] = max(end-d[t], 0)
		xb[t] = max(max(end, endB)-d[t], 0)
		c[t] = cpu + bgWork
		settles := root && l.settles[g.place]
		if root && l.cpu != nil && g.vcpu > 0 {
			// The invocation under the environment's quota: the sync path
			// and the in-memory async work beside it spend it together.
			streams := [2]cpuStream{{0, d[t], cpu + l.cpuInv}}
			if bgAt >= 0 && end > bgAt {
				streams[1] = cpuStream{bgAt, end, bgWork}
			}
			answer := d[t]
			if settles {
				answer = d[t] + xb[t]
			}
			ans, p95, fin := cfsTimes(g.vcpu, streams[:], answer, d[t]+xb[t])
			if t == l.entry && quotaTail != nil {
				*quotaTail = p95 - ans
			}
			x[t] = max(x[t]+fin-ans-xb[t], 0)
			if settles {
				x[t] = 0 // nothing outlasts the answer; xb below is the mean's excess over the median
			}
			xb[t] = max(fin-ans, 0)
			d[t] = ans
			shared = ans - answer
		} else if settles {
			// The answer waits for the work beside the path.
			d[t] += xb[t]
			x[t], xb[t] = 0, 0
		}
		if tr != nil {
			tp := &tr.Tasks[t]
			tp.SharedMs, tp.DurationMs, tp.OutlastMs = shared, d[t], xb[t]
			tp.WaitMs = d[t] - own - shared
		}
	}
	return d[l.entry]
}

// answersAfterAsync reports whether the runtime on place p answers a
// request only once the invocation's in-memory async work is done: a Cloud
// Function does (runtime/gcf.Handler: Cloud Run gives an instance CPU only
// while it handles a request), so its caller waits for that work, and
// nothing in its environment outlasts the answer. A Lambda function answers
// first and is billed for the rest (runtime/lambda).
func answersAfterAsync(p setup.Place) bool { return p.Provider == cost.ProviderGCP }

// compile turns a setup into the group assignment and params eval takes.
func (l *Learned) compile(s *setup.Setup) ([]int32, []gparam, error) {
	group := make([]int32, len(l.tasks))
	for i := range group {
		group[i] = -1
	}
	gp := make([]gparam, len(s.Groups))
	for gi, g := range s.Groups {
		p := l.placeIndex(g.Place)
		if p < 0 {
			return nil, nil, fmt.Errorf("%w: group %q: place %s is not known to the model", ErrBadInput, g.Name, g.Place)
		}
		ps, err := l.prices.PerSecond(g.Place, g.MemoryMB)
		if err != nil {
			return nil, nil, fmt.Errorf("model: group %q: %w", g.Name, err)
		}
		gp[gi] = gparam{place: p, cfg: -1, mem: g.MemoryMB, speed: l.prof.Speed(g.Place, g.MemoryMB), vcpu: l.quotaShare(g.Place, g.MemoryMB), perSec: ps, tasks: len(g.Tasks),
			modules: l.modules(g.Tasks, g.ModuleFused()), light: l.lightModules(g.Tasks)}
		for _, t := range g.Tasks {
			i, ok := l.idx[t]
			if !ok {
				return nil, nil, fmt.Errorf("%w: group %q holds unknown task %q", ErrBadInput, g.Name, t)
			}
			group[i] = int32(gi)
		}
	}
	for i, g := range group {
		if g < 0 {
			return nil, nil, fmt.Errorf("%w: task %q is in no group", ErrBadInput, l.tasks[i])
		}
	}
	return group, gp, nil
}

// rawPred is a setup's uncorrected prediction: the typical request's
// latency (ms), the share of requests that meet a cold start on their sync
// path and what they wait for it (ms), and the expected cost per request.
type rawPred struct {
	lat, coldP, coldMs, cost float64
	busy                     bool // the entry's group runs async work in memory
	// tail is the warm p95 − p50 (ms) measured with the same sync-path
	// groups, when tailOK.
	tail   float64
	tailOK bool
	// quotaTail is evalBuf.quotaTail: the tail the entry's CPU quota
	// alone gives, which a warm tail not measured is at least.
	quotaTail float64
}

// raw returns the uncorrected prediction of s.
func (l *Learned) raw(s *setup.Setup) (rawPred, error) {
	group, gp, err := l.compile(s)
	if err != nil {
		return rawPred{}, err
	}
	var buf evalBuf
	lat, c := l.eval(group, gp, &buf)
	return buf.pred(lat, c), nil
}

// p95Of is the p95 (ms) of a setup whose typical request takes lat ms and
// whose share r.coldP of requests waits r.coldMs more for a cold start,
// over a window of l.window requests: the warm requests' tail, or a cold
// request's latency when the window likely holds enough cold requests to
// reach its p95 (the loop's p95 of n requests is the value at rank
// ⌊0.95(n−1)⌋, so n − that rank of them must be cold: 3 of 24, 7 of 120;
// coldWeight).
//
// The warm tail is lat plus the p95 − p50 measured with the same groups on
// the sync path (r.tail), else lat × the learned p95/p50 of warm windows.
// The tail is a property of the environments a request runs in more than
// of its length: an environment whose load uses up its CPU quota
// (emulators/sandbox: CFS bandwidth, 100 ms periods) holds the request
// that meets the limit until the next period, tens of milliseconds
// whatever the request's own time.
func (l *Learned) p95Of(lat float64, r rawPred) float64 {
	coldP, coldMs := r.coldP, r.coldMs
	warm := lat * l.p95
	switch {
	case r.tailOK:
		warm = lat + r.tail
	case r.busy:
		warm = max(lat*l.p95Busy, lat+r.quotaTail)
	default:
		warm = max(warm, lat+r.quotaTail)
	}
	if coldP <= 0 || coldMs <= 0 {
		return warm
	}
	w := l.coldWeight(coldP)
	return max(warm, w*(lat+coldMs)+(1-w)*warm)
}

// coldWeight is how much of a cold request's latency the predicted p95
// of a window takes when a share coldP of its requests meets a cold
// start: the p95 is a cold request's in the windows that hold enough of
// them, and the prediction is that p95's median over windows, so the
// weight rises from 0 to 1 as that chance goes from 25% to 75%.
func (l *Learned) coldWeight(coldP float64) float64 {
	n := l.window
	chance := binomialTail(n, n-int(0.95*float64(n-1)), coldP)
	return min(max((chance-0.25)/0.5, 0), 1)
}

// binomialTail is P(X ≥ k) for X ~ Binomial(n, p).
func binomialTail(n, k int, p float64) float64 {
	if k <= 0 {
		return 1
	}
	if p >= 1 {
		return 1
	}
	// P(X < k) = Σ_{i<k} C(n,i) p^i (1-p)^(n-i), term by term.
	term := math.Pow(1-p, float64(n))
	below := 0.0
	for i := 0; i < k && i <= n; i++ {
		below += term
		term *= float64(n-i) / float64(i+1) * p / (1 - p)
	}
	return min(max(1-below, 0), 1)
}

// finishPrediction applies the percentile and the objective.
func (l *Learned) finishPrediction(r rawPred) Prediction {
	latMs := r.lat
	p50 := time.Duration(latMs * 1e6)
	p95 := time.Duration(l.p95Of(latMs, r) * 1e6)
	p := Prediction{Latency: p50, P50: p50, P95: p95, CostPerMillion: r.cost * 1e6, Confidence: l.conf}
	if l.obj.Objective.Latency == "p95" {
		p.Latency = p95
	}
	p.Score = Score(l.obj.Objective, p.Latency, p.CostPerMillion)
	return p
}

// Evaluate predicts s at the objective's latency percentile. A setup
// already measured is predicted as it measured (its own correction).
func (l *Learned) Evaluate(s *setup.Setup) (Prediction, error) {
	r, err := l.raw(s)
	if err != nil {
		return Prediction{}, err
	}
	if f, ok := l.fits[Key(s)]; ok {
		p50, p95 := time.Duration(r.lat*f.p50*1e6), time.Duration(r.lat*f.p95*1e6)
		p := Prediction{Latency: p50, P50: p50, P95: p95, CostPerMillion: r.cost * 1e6 * f.cost, Confidence: l.conf}
		if l.obj.Objective.Latency == "p95" {
			p.Latency = p95
		}
		p.Score = Score(l.obj.Objective, p.Latency, p.CostPerMillion)
		return p, nil
	}
	return l.finishPrediction(r), nil
}

// Predict returns the predicted latency (at the objective's percentile) and
// cost per million requests of s. For a setup the model cannot evaluate
// (unknown task or place) it returns the largest duration and +Inf; use
// Evaluate to get the reason.
func (l *Learned) Predict(s *setup.Setup) (time.Duration, float64) {
	p, err := l.Evaluate(s)
	if err != nil {
		return time.Duration(math.MaxInt64), math.Inf(1)
	}
	return p.Latency, p.CostPerMillion
}

// Notes describes what the model learned.
func (l *Learned) Notes() []string { return slices.Clone(l.notes) }

// OwnTime returns the learned own time of task at a speed (1 = one vCPU).
func (l *Learned) OwnTime(task string, speed float64) time.Duration {
	i, ok := l.idx[task]
	if !ok || speed <= 0 {
		return 0
	}
	return time.Duration((l.a[i] + l.b[i]/speed) * 1e6)
}

// describe returns a one-line summary of a setup.
func describe(s *setup.Setup) string {
	c := s.Clone()
	c.Normalize(false)
	parts := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		fusion := ""
		if g.ModuleFused() {
			fusion = "[module]"
		}
		parts[i] = fmt.Sprintf("(%s)%s%dMB@%s", strings.Join(g.Tasks, ","), fusion, g.MemoryMB, g.Place)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// fitInit fits y = a·h + b·l by weighted least squares, a, b ≥ 0: the
// init of groups loading h Go modules and l others. Where only one kind
// was seen, the other takes its per-module figure.
func fitInit(hs, ls, ys, ws []float64) (a, b float64) {
	var shh, sll, shl, shy, sly float64
	for i := range ys {
		w := ws[i]
		shh += w * hs[i] * hs[i]
		sll += w * ls[i] * ls[i]
		shl += w * hs[i] * ls[i]
		shy += w * hs[i] * ys[i]
		sly += w * ls[i] * ys[i]
	}
	one := func(sxx, sxy float64) float64 {
		if sxx <= 0 {
			return 0
		}
		return max(sxy/sxx, 0)
	}
	det := shh*sll - shl*shl
	switch {
	case shh == 0 && sll == 0:
		return 0, 0
	case sll == 0:
		a = one(shh, shy)
		return a, a
	case shh == 0:
		b = one(sll, sly)
		return b, b
	case math.Abs(det) <= 1e-9*shh*sll:
		// Every group loaded the two kinds in one proportion: one figure.
		a = one(shh+2*shl+sll, shy+sly)
		return a, a
	}
	a = (sll*shy - shl*sly) / det
	b = (shh*sly - shl*shy) / det
	switch {
	case a < 0:
		return 0, one(sll, sly)
	case b < 0:
		return one(shh, shy), 0
	}
	return a, b
}
