package optimize

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/analytics"
)

// DefaultMemories are the Lambda memory sizes strategies try, in MB
// (1769 MB is where Lambda gives one full vCPU).
var DefaultMemories = []int{128, 256, 512, 1024, 1769, 2048, 3008}

// Paper is the published heuristic, the baseline every other strategy is
// measured against.
//
// Grouping (Fusionize): start with every task in its own group. Each
// deployment makes ONE change: first, a task that sits in a group without
// being called sync from inside it (an async callee) moves out, with the
// tasks inlined under it; otherwise the sync callee with the most calls is
// inlined (with its group) into its caller's group. A task called sync by
// several callers goes to the caller with the most sync calls: here a task
// is in exactly one group, where the paper may duplicate it.
//
// Memory (Fusionize++): once no grouping change is left, each group in turn
// tries the next memory size up, then down, one per deployment; a size is
// kept when the measured cost drops and the measured latency (the
// objective's percentile) grows by at most LatencyTolerance. It converges
// when no group has an untried neighbouring size.
//
// Memory that fits (beyond the paper, whose Node.js functions fit 128 MB):
// a host of Go tasks needs tens of MB per task, and a platform kills an
// environment over its memory size. So the first deployment gives each
// task the smallest size that holds one task's host (priors
// DefaultHostBaseMB + DefaultTaskFootprintMB with MemoryMargin: 128 MB),
// and from then on every group gets at least the smallest size that holds
// its predicted peak: base + Σ task footprints, fitted to the max memory
// used the platform reported (see Learned.PeakMB). Groups whose measured
// peak leaves less than the margin grow first, all in one deployment;
// an inline takes the merged group up to the size that fits it; the memory
// phase never tries a size below it.
type Paper struct {
	Place setup.Place // where every group runs; default aws/us-east-1
	// StartMemoryMB is the memory of the first deployment; 0 (the default)
	// picks the smallest of Memories that fits one task's host.
	StartMemoryMB    int
	Memories         []int   // sizes to try, ascending; default DefaultMemories
	LatencyTolerance float64 // default 0.05
}

var _ Strategy = (*Paper)(nil)

// NewPaper returns the paper's strategy with its defaults.
func NewPaper() *Paper {
	return &Paper{
		Place:            setup.Place{Provider: "aws", Region: "us-east-1"},
		Memories:         slices.Clone(DefaultMemories),
		LatencyTolerance: 0.05,
	}
}

// Name returns "paper".
func (p *Paper) Name() string { return "paper" }

// Propose returns the next setup of the heuristic.
func (p *Paper) Propose(ctx context.Context, in Input) (*setup.Setup, Explanation, error) {
	why := Explanation{Strategy: p.Name()}
	if err := in.App.validate(); err != nil {
		return nil, why, err
	}
	if err := ctx.Err(); err != nil {
		return nil, why, err
	}
	mems := p.memories()
	if in.Current == nil {
		start := p.StartMemoryMB
		how := ""
		if start <= 0 {
			mf := fitMemory(in.App.Tasks, indexOf(in.App.Tasks), fusableFlags(in.App, in.App.Tasks), nil)
			start = smallestFit(mf.base+DefaultTaskFootprintMB, mems)
			how = fmt.Sprintf(", the smallest size that holds one task's host (%.0f MB + %.0f MB per task, %.0f%% margin)", mf.base, DefaultTaskFootprintMB, 100*MemoryMargin)
		}
		s := setup.Separate(1, in.App.Tasks, p.Place, start)
		why.Change = fmt.Sprintf("initial: every task in its own group at %d MB%s", start, how)
		return s, why, nil
	}
	if err := in.Current.Validate(in.App.Tasks); err != nil {
		return nil, why, fmt.Errorf("%w: current setup: %w", ErrBadInput, err)
	}
	if in.Report == nil {
		return nil, why, fmt.Errorf("paper: %w", ErrNoData)
	}
	mf := fitMemory(in.App.Tasks, indexOf(in.App.Tasks), fusableFlags(in.App, in.App.Tasks), reportsOf(in))
	fit := func(tasks []string) int {
		peak := mf.base
		idx := indexOf(in.App.Tasks)
		for _, t := range tasks {
			if i, ok := idx[t]; ok {
				peak += mf.foot[i]
			}
		}
		return smallestFit(peak, mems)
	}
	if next, change := p.grow(in.Current, fit); next != nil {
		why.Change = change
		return finish(next, in.Current), why, nil
	}
	if next, change := p.regroup(in.Current, in.Report); next != nil {
		for gi := range next.Groups {
			g := &next.Groups[gi]
			if limited(g.Place) {
				g.MemoryMB = max(g.MemoryMB, fit(g.Tasks))
			}
		}
		why.Change = change
		return finish(next, in.Current), why, nil
	}
	return p.resize(in, why, fit)
}

func (p *Paper) memories() []int {
	if len(p.Memories) == 0 {
		return DefaultMemories
	}
	return p.Memories
}

// grow raises every group whose predicted peak does not fit its memory to
// the smallest size that does, in one deployment: a fix, not one of the
// heuristic's changes.
func (p *Paper) grow(cur *setup.Setup, fit func([]string) int) (*setup.Setup, string) {
	c := cur.Clone()
	c.Normalize(false)
	var grown []string
	for gi := range c.Groups {
		g := &c.Groups[gi]
		if m := fit(g.Tasks); limited(g.Place) && m > g.MemoryMB {
			grown = append(grown, fmt.Sprintf("(%s) %d MB → %d MB", groupKey(g), g.MemoryMB, m))
			g.MemoryMB = m
		}
	}
	if len(grown) == 0 {
		return nil, ""
	}
	return c, "memory: " + strings.Join(grown, ", ") + ", the smallest sizes that hold their measured peaks"
}

func indexOf(tasks []string) map[string]int {
	idx := make(map[string]int, len(tasks))
	for i, t := range tasks {
		idx[t] = i
	}
	return idx
}

// reportsOf returns the input's reports, the current one first, each once.
func reportsOf(in Input) []*analytics.Report {
	var out []*analytics.Report
	if in.Report != nil {
		out = append(out, in.Report)
	}
	for i := len(in.History) - 1; i >= 0; i-- {
		if r := in.History[i].Report; r != nil && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// preferredCallers maps each task to the caller that calls it sync most
// often, for tasks called mostly sync.
func preferredCallers(r *analytics.Report) map[string]*analytics.EdgeStats {
	pref := make(map[string]*analytics.EdgeStats)
	for _, e := range r.EdgeList() {
		if e.Caller == e.Callee || e.SyncShare() < 0.5 {
			continue
		}
		if cur, ok := pref[e.Callee]; !ok || e.Sync > cur.Sync {
			pref[e.Callee] = e // EdgeList order breaks ties by caller name
		}
	}
	return pref
}

// subtree returns task and the tasks of its group anchored under it
// (transitively preferred-called from it), sorted.
func subtree(task string, group []string, pref map[string]*analytics.EdgeStats) []string {
	in := map[string]bool{task: true}
	for changed := true; changed; {
		changed = false
		for _, t := range group {
			if e, ok := pref[t]; ok && !in[t] && in[e.Caller] {
				in[t], changed = true, true
			}
		}
	}
	out := make([]string, 0, len(in))
	for t := range in {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// regroup returns the next grouping change, or nil when the grouping is stable.
func (p *Paper) regroup(cur *setup.Setup, r *analytics.Report) (*setup.Setup, string) {
	pref := preferredCallers(r)
	groupOf := cur.Assignment()
	c := cur.Clone()
	c.Normalize(false)
	// 1. Split: a task not anchored in its group (no preferred sync caller
	// inside it) moves out, unless it is the group's root.
	for gi := range c.Groups {
		g := &c.Groups[gi]
		var loose []string
		for _, t := range g.Tasks {
			if e, ok := pref[t]; !ok || groupOf[e.Caller] != g.Name {
				loose = append(loose, t)
			}
		}
		if len(loose) < 2 {
			continue
		}
		// Keep as root a task nobody calls (the entry), else the most called.
		root, best := "", -1
		for _, t := range loose {
			n := calls(r, t)
			if n == 0 {
				n = int(^uint(0) >> 1)
			}
			if n > best {
				root, best = t, n
			}
		}
		for _, t := range loose {
			if t == root {
				continue
			}
			moved := subtree(t, g.Tasks, pref)
			g.Tasks = slices.DeleteFunc(g.Tasks, func(x string) bool { return slices.Contains(moved, x) })
			c.Groups = append(c.Groups, setup.Group{Tasks: moved, MemoryMB: g.MemoryMB, Place: g.Place})
			return c, fmt.Sprintf("split: %s leaves group (%s): not called sync from inside it", strings.Join(moved, ","), strings.Join(g.Tasks, ","))
		}
	}
	// 2. Inline: the sync callee with most calls joins its caller's group.
	var cands []*analytics.EdgeStats
	for _, e := range pref {
		if groupOf[e.Callee] != groupOf[e.Caller] && groupOf[e.Callee] != "" && groupOf[e.Caller] != "" {
			cands = append(cands, e)
		}
	}
	if len(cands) == 0 {
		return nil, ""
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].Sync != cands[j].Sync {
			return cands[i].Sync > cands[j].Sync
		}
		if cands[i].Caller != cands[j].Caller {
			return cands[i].Caller < cands[j].Caller
		}
		return cands[i].Callee < cands[j].Callee
	})
	e := cands[0]
	from, _ := c.Group(groupOf[e.Callee])
	moved := subtree(e.Callee, from.Tasks, pref)
	from.Tasks = slices.DeleteFunc(from.Tasks, func(x string) bool { return slices.Contains(moved, x) })
	to, _ := c.Group(groupOf[e.Caller])
	to.Tasks = append(to.Tasks, moved...)
	c.Groups = slices.DeleteFunc(c.Groups, func(g setup.Group) bool { return len(g.Tasks) == 0 })
	return c, fmt.Sprintf("inline: %s joins %s's group (sync, %d calls)", strings.Join(moved, ","), e.Caller, e.Sync)
}

// calls counts every call into task.
func calls(r *analytics.Report, task string) int {
	n := 0
	for _, e := range r.Edges {
		if e.Callee == task {
			n += e.Calls
		}
	}
	return n
}

func groupKey(g *setup.Group) string {
	t := slices.Clone(g.Tasks)
	sort.Strings(t)
	return strings.Join(t, ",")
}

// resize runs the memory phase by replaying the measured history of the
// current grouping.
func (p *Paper) resize(in Input, why Explanation, fit func([]string) int) (*setup.Setup, Explanation, error) {
	obj := in.App.Objective
	part := in.Current.Partition()
	var accepted *Observation
	tried := map[string]map[int]bool{}
	for i := range in.History {
		it := &in.History[i]
		if it.Setup == nil || it.Setup.Partition() != part || !it.Measured() {
			continue
		}
		for _, g := range it.Setup.Groups {
			k := groupKey(&g)
			if tried[k] == nil {
				tried[k] = map[int]bool{}
			}
			tried[k][g.MemoryMB] = true
		}
		if accepted == nil ||
			(it.CostPerMillionUSD < accepted.CostPerMillionUSD &&
				float64(it.Latency(obj)) <= float64(accepted.Latency(obj))*(1+p.LatencyTolerance)) {
			accepted = it
		}
	}
	if accepted == nil {
		return nil, why, fmt.Errorf("paper: %w: no measured iteration of grouping %s in the history", ErrNoData, part)
	}
	base := accepted.Setup.Clone()
	base.Normalize(false)
	mems := p.memories()
	for gi := range base.Groups {
		g := &base.Groups[gi]
		k := groupKey(g)
		i := sort.SearchInts(mems, g.MemoryMB)
		var next []int
		if i < len(mems) && mems[i] == g.MemoryMB {
			if i+1 < len(mems) {
				next = append(next, mems[i+1])
			}
			if i > 0 {
				next = append(next, mems[i-1])
			}
		} else { // off the list: snap to the neighbours
			if i < len(mems) {
				next = append(next, mems[i])
			}
			if i > 0 {
				next = append(next, mems[i-1])
			}
		}
		for _, m := range next {
			if tried[k][m] || (limited(g.Place) && m < fit(g.Tasks)) {
				continue
			}
			old := g.MemoryMB
			g.MemoryMB = m
			why.Change = fmt.Sprintf("memory: group (%s) %d MB → %d MB", k, old, m)
			return finish(base, in.Current), why, nil
		}
	}
	if Key(accepted.Setup) != Key(in.Current) {
		why.Change = "memory: revert to the cheapest measured setup " + Key(accepted.Setup)
		return finish(base, in.Current), why, nil
	}
	why.Converged = true
	why.Change = "converged: no grouping change and no untried memory size left"
	return in.Current, why, nil
}
