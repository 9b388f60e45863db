package optimize

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/profile"
)

// ModelConfig configures the Model strategy. Zero values take defaults.
type ModelConfig struct {
	Profile *profile.Profile // default profile.Default()
	Prices  *cost.Prices     // default cost.Default()
	// Places the search may put groups on; default: the places of the
	// current setup, else aws/us-east-1.
	Places []setup.Place
	// Memories per provider; default DefaultMemories for aws, the vCPU
	// table's sizes up to 4096 for gcp, 128 for local.
	Memories map[string][]int
	// InitialMemoryMB is the memory of the first, separate deployment; default 512.
	InitialMemoryMB int
	// MaxExhaustiveTasks: apps with at most this many tasks are searched
	// exhaustively over connected partitions; default 10.
	MaxExhaustiveTasks int
	// SearchBudget is the number of evaluations of the local search for
	// larger apps; default 20000.
	SearchBudget int
	// Seed makes the local search deterministic.
	Seed uint64
	// Hysteresis: keep the current setup unless the best candidate is
	// predicted better by this fraction; default 0.02.
	Hysteresis float64
	// RollbackTolerance: a measured score this much worse than the best
	// measured one is a regression; default 0.10.
	RollbackTolerance float64
	// AsyncOwnCPU makes in-memory async work run beside its caller on a CPU
	// of its own, as fuser/internal/simulate grants it. No platform does:
	// by default it shares its environment's CPU share with the caller.
	AsyncOwnCPU bool
}

func (c *ModelConfig) memories(provider string) []int {
	if m, ok := c.Memories[provider]; ok && len(m) > 0 {
		return m
	}
	switch provider {
	case cost.ProviderAWS:
		return DefaultMemories
	case cost.ProviderGCP:
		return []int{128, 256, 512, 1024, 2048, 4096}
	}
	return []int{128}
}

// Model is the model-driven strategy: learn, predict, search, deploy the
// best predicted setup, and roll back when a deployment measures worse.
type Model struct{ cfg ModelConfig }

var _ Strategy = (*Model)(nil)

// NewModel returns a Model strategy.
func NewModel(cfg ModelConfig) *Model {
	if cfg.Profile == nil {
		cfg.Profile = profile.Default()
	}
	if cfg.Prices == nil {
		p := cost.Default()
		cfg.Prices = &p
	}
	if cfg.InitialMemoryMB <= 0 {
		cfg.InitialMemoryMB = 512
	}
	if cfg.MaxExhaustiveTasks <= 0 {
		cfg.MaxExhaustiveTasks = 10
	}
	if cfg.SearchBudget <= 0 {
		cfg.SearchBudget = 20000
	}
	if cfg.Hysteresis <= 0 {
		cfg.Hysteresis = 0.02
	}
	if cfg.RollbackTolerance <= 0 {
		cfg.RollbackTolerance = 0.10
	}
	return &Model{cfg: cfg}
}

// Name returns "model".
func (m *Model) Name() string { return "model" }

// Learn fits the model to the input's spans.
func (m *Model) Learn(in Input) (*Learned, error) {
	if err := in.App.validate(); err != nil {
		return nil, err
	}
	c := m.cfg
	if len(c.Places) == 0 && in.Current == nil {
		c.Places = []setup.Place{{Provider: cost.ProviderAWS, Region: "us-east-1"}}
	}
	mm := Model{cfg: c}
	return mm.learn(in)
}

// Propose learns from the input, searches and returns the best predicted setup.
func (m *Model) Propose(ctx context.Context, in Input) (*setup.Setup, Explanation, error) {
	why := Explanation{Strategy: m.Name()}
	if err := in.App.validate(); err != nil {
		return nil, why, err
	}
	if in.Current == nil {
		place := setup.Place{Provider: cost.ProviderAWS, Region: "us-east-1"}
		if len(m.cfg.Places) > 0 {
			place = m.cfg.Places[0]
		}
		why.Change = fmt.Sprintf("initial: every task in its own group at %d MB to measure it", m.cfg.InitialMemoryMB)
		return setup.Separate(1, in.App.Tasks, place, m.cfg.InitialMemoryMB), why, nil
	}
	if err := in.Current.Validate(in.App.Tasks); err != nil {
		return nil, why, fmt.Errorf("%w: current setup: %w", ErrBadInput, err)
	}
	l, err := m.Learn(in)
	if err != nil {
		return nil, why, err
	}
	why.Notes = l.Notes()

	// Regressions: what was measured overrules what is predicted. A setup
	// measured worse than the best by the tolerance, rolled back by the
	// loop (worse by its tests, or more failed requests) or that failed to
	// deploy is tabu: the search skips it.
	obj := in.App.Objective
	tabu := map[string]bool{}
	var bestIt *Observation
	bestScore := math.Inf(1)
	for i := range in.History {
		it := &in.History[i]
		if it.Setup == nil {
			continue
		}
		if it.Decision == api.DecisionRollback || it.Decision == api.DecisionFailed {
			tabu[Key(it.Setup)] = true
			continue
		}
		if !it.Measured() {
			continue
		}
		if s := Score(obj, it.Latency(obj), it.CostPerMillionUSD); s < bestScore {
			bestScore, bestIt = s, it
		}
	}
	for i := range in.History {
		it := &in.History[i]
		if it.Setup != nil && it.Measured() && Score(obj, it.Latency(obj), it.CostPerMillionUSD) > bestScore*(1+m.cfg.RollbackTolerance) {
			tabu[Key(it.Setup)] = true
		}
	}
	// The search scores candidates from the model's parts; a measured
	// setup that measured worse than its parts predict must not win on
	// them (it is predicted as it measured).
	avoid := maps.Clone(tabu)
	for i := range in.History {
		it := &in.History[i]
		if it.Setup == nil || !it.Measured() || avoid[Key(it.Setup)] {
			continue
		}
		if r, err := l.raw(it.Setup); err == nil && Score(obj, it.Latency(obj), it.CostPerMillionUSD) > l.finishPrediction(r).Score {
			avoid[Key(it.Setup)] = true
		}
	}
	best, pred, err := m.search(ctx, l, in, avoid)
	if err != nil {
		return nil, why, err
	}
	cur, err := l.Evaluate(in.Current)
	if err != nil {
		return nil, why, err
	}
	curKey := Key(in.Current)
	if bestIt != nil && tabu[curKey] && (tabu[Key(best)] || pred.Score >= bestScore) {
		why.Change = fmt.Sprintf("rollback: measured score %.4g is worse than %.4g of %s", Score(obj, in.History[len(in.History)-1].Latency(obj), in.History[len(in.History)-1].CostPerMillionUSD), bestScore, describe(bestIt.Setup))
		next := bestIt.Setup.Clone()
		return finish(next, in.Current), why, nil
	}
	if ok, misfit := l.Fits(best); !ok {
		// The search penalizes every overflow, so nothing fits.
		why.Converged, why.Predicted = true, &cur
		why.Change = "converged: no candidate fits its memory: " + misfit
		return in.Current, why, nil
	}
	curFits, _ := l.Fits(in.Current)
	if curFits && (tabu[Key(best)] || Key(best) == curKey || pred.Score >= cur.Score*(1-m.cfg.Hysteresis)) {
		if next, p, ok := m.explore(ctx, l, in, tabu, cur); ok {
			why.Predicted = &p
			why.Change = fmt.Sprintf("explore: the serving setup is over the %s ≤ %.0f ms bound and no setup is predicted to meet it; %s → %s is predicted at %s, within the model's ±%.0f%% of the bound ($%.2f/M)",
				obj.Latency, obj.LatencyBoundMs, describe(in.Current), describe(next), fmtMs(p.Latency), 100*p.Confidence, p.CostPerMillion)
			return finish(next, in.Current), why, nil
		}
		why.Converged = true
		why.Predicted = &cur
		why.Change = fmt.Sprintf("no candidate is predicted better than the serving setup (predicted %s, $%.2f/M); the best other one, %s, is predicted at %s, $%.2f/M",
			fmtMs(cur.Latency), cur.CostPerMillion, describe(best), fmtMs(pred.Latency), pred.CostPerMillion)
		if b := obj.LatencyBoundMs; b > 0 && ms(pred.Latency) > b {
			why.BoundUnmet = true
			why.Change += fmt.Sprintf("; no setup is predicted to meet the %s ≤ %.0f ms bound", obj.Latency, b)
		}
		return in.Current, why, nil
	}
	why.Predicted = &pred
	why.Change = fmt.Sprintf("%s → %s (predicted %s, $%.2f/M; current predicted %s, $%.2f/M)",
		describe(in.Current), describe(best), fmtMs(pred.Latency), pred.CostPerMillion, fmtMs(cur.Latency), cur.CostPerMillion)
	return finish(best, in.Current), why, nil
}

// cand is a candidate during search: a group id per task and a config per
// group id (group ids range over [0, tasks)).
type cand struct {
	group []int32
	cfg   []int32
}

func (c *cand) clone() cand {
	return cand{group: slices.Clone(c.group), cfg: slices.Clone(c.cfg)}
}

type searcher struct {
	l     *Learned
	buf   evalBuf
	gp    []gparam
	peak  []float64
	fused []fusedSums // scratch of overflow (memory.go)
	evals int
	tabu  map[string]bool // setups (by Key) the search must not pick
	// tabuHash holds setupHash of every tabu setup: a candidate is looked
	// up by Key, which builds its setup, only when its candHash is here.
	tabuHash map[uint64]bool
}

func (s *searcher) score(c *cand) float64 {
	for g := range c.cfg {
		cf := &s.l.cfgs[c.cfg[g]]
		s.gp[g] = gparam{place: cf.place, cfg: int(c.cfg[g]), mem: cf.mem, speed: cf.speed, vcpu: cf.vcpu, perSec: cf.perSec}
	}
	for t, g := range c.group {
		s.gp[g].tasks++
		switch s.l.fusable[t] {
		case fusable:
			s.gp[g].fusable++
		case isolated:
			s.gp[g].isolated = true
		default:
			s.gp[g].light++
		}
	}
	for g := range c.cfg {
		s.gp[g].setModules()
	}
	s.evals++
	if over := s.overflow(c); over > 0 {
		// Does not fit: worse than any setup that does, and the less it
		// overflows the better, so the search finds its way out.
		return 1e12 * (1 + over)
	}
	if len(s.tabu) > 0 && s.tabuHash[s.candHash(c)] && s.tabu[Key(s.l.toSetup(c))] {
		return 1e15
	}
	lat, cr := s.l.eval(c.group, s.gp, &s.buf)
	return s.l.finishPrediction(s.buf.pred(lat, cr)).Score
}

// used returns the group ids in use, ascending.
func used(c *cand) []int32 {
	seen := make([]bool, len(c.group))
	var out []int32
	for _, g := range c.group {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// tuneConfigs improves the configs of c's groups one group at a time
// (coordinate descent) and returns the final score.
func (s *searcher) tuneConfigs(c *cand, passes int) float64 {
	best := s.score(c)
	groups := used(c)
	for p := 0; p < passes; p++ {
		improved := false
		for _, g := range groups {
			keep := c.cfg[g]
			for k := range s.l.cfgs {
				if int32(k) == keep {
					continue
				}
				old := c.cfg[g]
				c.cfg[g] = int32(k)
				if sc := s.score(c); sc < best-1e-12 {
					best, improved = sc, true
				} else {
					c.cfg[g] = old
				}
			}
		}
		if !improved {
			break
		}
	}
	return best
}

// tuneUniform gives all groups of c the same config, the best one; when
// keep is set, c's own configs compete too.
func (s *searcher) tuneUniform(c *cand, keep bool) float64 {
	best := math.Inf(1)
	var bestCfg []int32
	if keep {
		best, bestCfg = s.score(c), slices.Clone(c.cfg)
	}
	for k := range s.l.cfgs {
		for g := range c.cfg {
			c.cfg[g] = int32(k)
		}
		if sc := s.score(c); sc < best {
			best, bestCfg = sc, slices.Clone(c.cfg)
		}
	}
	copy(c.cfg, bestCfg)
	return best
}

// tuneFromStarts tunes c from several uniform starting configs (each place's
// fastest and cheapest memory) and keeps the best.
func (s *searcher) tuneFromStarts(c *cand, passes int) float64 {
	groups := used(c)
	var starts []int32
	for p := range s.l.places {
		lo, hi := int32(-1), int32(-1)
		for k, cf := range s.l.cfgs {
			if cf.place != p {
				continue
			}
			if lo < 0 {
				lo = int32(k)
			}
			hi = int32(k)
		}
		if lo >= 0 {
			starts = append(starts, lo, hi)
		}
	}
	best := math.Inf(1)
	var bestCfg []int32
	for _, st := range starts {
		for _, g := range groups {
			c.cfg[g] = st
		}
		if sc := s.tuneConfigs(c, passes); sc < best {
			best, bestCfg = sc, slices.Clone(c.cfg)
		}
	}
	copy(c.cfg, bestCfg)
	return best
}

// search returns the best setup it finds and its prediction.
// explore returns, when the serving setup (predicted as cur: measured)
// breaks the objective's latency bound and no candidate is predicted to
// meet it, the best candidate not measured yet if its predicted latency is
// within the model's confidence of the bound: predictions are that
// uncertain, and measuring it costs one deployment where stopping leaves
// the bound broken.
func (m *Model) explore(ctx context.Context, l *Learned, in Input, tabu map[string]bool, cur Prediction) (*setup.Setup, Prediction, bool) {
	b := in.App.Objective.LatencyBoundMs
	if b <= 0 || ms(cur.Latency) <= b {
		return nil, Prediction{}, false
	}
	seen := maps.Clone(tabu)
	seen[Key(in.Current)] = true
	for _, it := range in.History {
		if it.Setup != nil {
			seen[Key(it.Setup)] = true
		}
	}
	next, p, err := m.search(ctx, l, in, seen)
	if err != nil || seen[Key(next)] {
		return nil, Prediction{}, false
	}
	if ok, _ := l.Fits(next); !ok || ms(p.Latency)*(1-p.Confidence) > b {
		return nil, Prediction{}, false
	}
	return next, p, true
}

func (m *Model) search(ctx context.Context, l *Learned, in Input, tabu map[string]bool) (*setup.Setup, Prediction, error) {
	n := len(l.tasks)
	if len(l.cfgs) == 0 {
		return nil, Prediction{}, fmt.Errorf("%w: no memory sizes to search", ErrBadInput)
	}
	s := &searcher{l: l, gp: make([]gparam, n), tabu: tabu, tabuHash: map[uint64]bool{}}
	for _, it := range in.History {
		if it.Setup != nil && tabu[Key(it.Setup)] {
			if h, ok := l.setupHash(it.Setup); ok {
				s.tabuHash[h] = true
			}
		}
	}
	var best cand
	var bestScore float64
	var err error
	if n <= m.cfg.MaxExhaustiveTasks {
		best, bestScore, err = s.exhaustive(ctx)
	} else {
		best, bestScore, err = s.local(ctx, in, m.cfg)
	}
	if err != nil {
		return nil, Prediction{}, err
	}
	out := l.toSetup(&best)
	p, err := l.Evaluate(out)
	if err != nil {
		return nil, Prediction{}, err
	}
	_ = bestScore
	return out, p, nil
}

// setupHash identifies s by its groups' groupKeys (tasks, place, memory,
// modules loaded), as candHash identifies a candidate: a candidate whose
// setup has the same Key has the same hash. false when the model cannot
// evaluate s (an unknown task or place), so no candidate can be s.
func (l *Learned) setupHash(s *setup.Setup) (uint64, bool) {
	group, gp, err := l.compile(s)
	if err != nil {
		return 0, false
	}
	var buf evalBuf
	return sumKeys(groupKeys(group, gp, &buf), gp), true
}

// candHash is setupHash of c's setup without building it; s.gp must hold
// c's group params, modules included (score sets them).
func (s *searcher) candHash(c *cand) uint64 {
	return sumKeys(groupKeys(c.group, s.gp, &s.buf), s.gp)
}

// sumKeys adds up the keys of the groups that hold tasks.
func sumKeys(gk []uint64, gp []gparam) uint64 {
	var h uint64
	for g, k := range gk {
		if gp[g].tasks > 0 {
			h += k
		}
	}
	return h
}

func (l *Learned) toSetup(c *cand) *setup.Setup {
	s := &setup.Setup{}
	at := map[int32]int{}
	for t, g := range c.group {
		i, ok := at[g]
		if !ok {
			cf := l.cfgs[c.cfg[g]]
			i = len(s.Groups)
			at[g] = i
			s.Groups = append(s.Groups, setup.Group{MemoryMB: cf.mem, Place: l.places[cf.place]})
		}
		s.Groups[i].Tasks = append(s.Groups[i].Tasks, l.tasks[t])
	}
	l.markModuleFusion(s)
	s.Normalize(true)
	return s
}

// exhaustive tries every partition whose groups are connected in the call
// graph. Other partitions never do better under the model: tasks of a group
// that never call each other gain nothing from sharing it, and splitting the
// group (same memory, same place) predicts the same latency and cost.
func (s *searcher) exhaustive(ctx context.Context) (cand, float64, error) {
	l := s.l
	n := len(l.tasks)
	c := cand{group: make([]int32, n), cfg: make([]int32, n)}
	best, bestScore := cand{}, math.Inf(1)
	parent := make([]int, n)
	var find func(int) int
	find = func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	connected := func(blocks int) bool {
		for i := range parent {
			parent[i] = i
		}
		comps := n
		for t := 0; t < n; t++ {
			for _, u := range l.adj[t] {
				if u > t && c.group[t] == c.group[u] {
					if a, b := find(t), find(u); a != b {
						parent[a] = b
						comps--
					}
				}
			}
		}
		return comps == blocks
	}
	var rec func(i, m int) error
	count := 0
	rec = func(i, m int) error {
		if i == n {
			if !connected(m) {
				return nil
			}
			count++
			if count%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if sc := s.tuneFromStarts(&c, 3); sc < bestScore {
				bestScore, best = sc, c.clone()
			}
			return nil
		}
		for b := 0; b <= m && b < n; b++ {
			c.group[i] = int32(b)
			nm := m
			if b == m {
				nm++
			}
			if err := rec(i+1, nm); err != nil {
				return err
			}
		}
		return nil
	}
	if err := rec(0, 0); err != nil {
		return cand{}, 0, err
	}
	return best, bestScore, nil
}

// local runs a seeded simulated annealing from the best of three starts:
// the current setup, sync callees fused into their main caller, and every
// task alone.
func (s *searcher) local(ctx context.Context, in Input, cfg ModelConfig) (cand, float64, error) {
	l := s.l
	n := len(l.tasks)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xf05e))
	var starts []cand
	// every task alone
	alone := cand{group: make([]int32, n), cfg: make([]int32, n)}
	for t := range alone.group {
		alone.group[t] = int32(t)
	}
	starts = append(starts, alone)
	// sync callees with their main caller
	fused := cand{group: make([]int32, n), cfg: make([]int32, n)}
	pref := make([]int, n)
	prefN := make([]float64, n)
	for t := range pref {
		pref[t] = -1
	}
	for f := 0; f < n; f++ {
		for _, e := range l.out[f] {
			if e.sync && e.n > prefN[e.to] {
				pref[e.to], prefN[e.to] = f, e.n
			}
		}
	}
	for i := len(l.post) - 1; i >= 0; i-- { // callers first
		t := l.post[i]
		fused.group[t] = int32(t)
		if p := pref[t]; p >= 0 {
			fused.group[t] = fused.group[p]
		}
	}
	starts = append(starts, fused)
	// the current setup, when it fits the candidate configs
	if in.Current != nil {
		cur := cand{group: make([]int32, n), cfg: make([]int32, n)}
		ok := true
		for gi, g := range in.Current.Groups {
			k := slices.IndexFunc(l.cfgs, func(c cfgT) bool { return l.places[c.place] == g.Place && c.mem == g.MemoryMB })
			if k < 0 {
				ok = false
				break
			}
			for _, t := range g.Tasks {
				cur.group[l.idx[t]] = int32(gi)
			}
			cur.cfg[gi] = int32(k)
		}
		if ok {
			starts = append(starts, cur)
		}
	}
	// Coordinate descent over every group's config costs groups × configs
	// evaluations a pass; for large apps only uniform configs are tried here
	// and the annealing below changes single groups' configs.
	small := n*len(l.cfgs)*2 <= cfg.SearchBudget/4
	best, bestScore := cand{}, math.Inf(1)
	for i := range starts {
		c := &starts[i]
		var sc float64
		switch {
		case !small:
			sc = s.tuneUniform(c, i == 2)
		case i == 2:
			sc = s.tuneConfigs(c, 2)
		default:
			sc = s.tuneFromStarts(c, 2)
		}
		if sc < bestScore {
			bestScore, best = sc, c.clone()
		}
	}
	if err := ctx.Err(); err != nil {
		return cand{}, 0, err
	}

	// Annealing.
	cur, curScore := best.clone(), bestScore
	size := make([]int, n)
	for _, g := range cur.group {
		size[g]++
	}
	budget := cfg.SearchBudget
	t0 := 0.02 * math.Abs(curScore)
	if t0 == 0 {
		t0 = 1e-3
	}
	for it := 0; it < budget; it++ {
		if it%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return cand{}, 0, err
			}
		}
		temp := t0 * math.Pow(1e-4, float64(it)/float64(budget))
		t := rng.IntN(n)
		g := cur.group[t]
		type undo struct {
			task  int
			group int32
		}
		var undos []undo
		oldCfg := int32(-1)
		var cfgGroup int32
		switch r := rng.Float64(); {
		case r < 0.45 && len(l.adj[t]) > 0: // join a neighbour's group
			u := l.adj[t][rng.IntN(len(l.adj[t]))]
			if cur.group[u] == g {
				continue
			}
			undos = append(undos, undo{t, g})
			size[g]--
			cur.group[t] = cur.group[u]
			size[cur.group[u]]++
		case r < 0.6 && size[g] > 1: // leave the group
			free := int32(-1)
			for k, o := 0, rng.IntN(n); k < n; k++ {
				if size[(o+k)%n] == 0 {
					free = int32((o + k) % n)
					break
				}
			}
			undos = append(undos, undo{t, g})
			size[g]--
			cur.group[t] = free
			cur.cfg[free] = cur.cfg[g]
			size[free]++
		case r < 0.75 && len(l.adj[t]) > 0: // merge two neighbouring groups
			u := l.adj[t][rng.IntN(len(l.adj[t]))]
			h := cur.group[u]
			if h == g {
				continue
			}
			for v := range cur.group {
				if cur.group[v] == h {
					undos = append(undos, undo{v, h})
					cur.group[v] = g
				}
			}
			size[g] += size[h]
			size[h] = 0
		default: // another memory size or place
			cfgGroup, oldCfg = g, cur.cfg[g]
			cur.cfg[g] = int32(rng.IntN(len(l.cfgs)))
		}
		sc := s.score(&cur)
		if sc <= curScore || rng.Float64() < math.Exp((curScore-sc)/temp) {
			curScore = sc
			if sc < bestScore {
				bestScore, best = sc, cur.clone()
			}
			continue
		}
		if oldCfg >= 0 {
			cur.cfg[cfgGroup] = oldCfg
		}
		for i := len(undos) - 1; i >= 0; i-- {
			u := undos[i]
			size[cur.group[u.task]]--
			cur.group[u.task] = u.group
			size[u.group]++
		}
	}
	if small {
		bestScore = s.tuneConfigs(&best, 2)
	}
	return best, bestScore, nil
}
