package optimize

import (
	"fmt"
	"math"
	"slices"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
)

// Memory priors, used until the platforms report max memory used: a host
// of Go tasks peaks near 57 MB with one IoT task and near 298 MB with all
// ten fused (DESIGN.md, measured on this project's machine), so about 30 MB
// for the host and 27 MB per Go task.
const (
	DefaultHostBaseMB      = 30.0
	DefaultTaskFootprintMB = 27.0
	// MemoryMargin is the headroom a group keeps over its predicted peak:
	// a group fits a memory size when peak × (1 + MemoryMargin) ≤ size.
	MemoryMargin = 0.2
)

// memoryFit is the learned peak-memory model: peak of a group ≈ base + Σ
// footprint of its tasks, by least squares over the groups the platforms
// reported max memory used for (pulled weakly towards the priors, so the
// groups seen alone still give each task a footprint).
type memoryFit struct {
	base     float64
	foot     []float64 // MB per task
	observed int       // groups with a reported peak
	// moduleTask is the MB a module-fused group's peak grows by per fused
	// task past its largest (ModuleTaskMB until a module-fused group's
	// peak was reported), moduleObserved how many such groups it is from.
	moduleTask     float64
	moduleObserved int
}

// fitMemory fits the footprints from every report's platform figures: the
// instance-fused groups' peaks give the host's base and each task's
// footprint; then the module-fused groups' peaks, past the base, their
// other tasks' footprints and their largest fused footprint, give what
// each further fused task adds.
func fitMemory(tasks []string, idx map[string]int, flags []taskFusion, reports []*analytics.Report) (mf memoryFit) {
	n := len(tasks)
	type obs struct {
		set  []int
		peak float64
	}
	seen := map[string]*obs{}
	var order []string
	var modular []obs
	for _, r := range reports {
		for _, ps := range r.PlatformList() {
			if ps.PeakMemoryMB <= 0 {
				continue
			}
			var set []int
			nf := 0
			for _, t := range ps.Tasks {
				if i, ok := idx[t]; ok {
					set = append(set, i)
					if flags[i] == fusable {
						nf++
					}
				}
			}
			if len(set) == 0 {
				continue
			}
			if ps.Fusion == setup.FusionModule && nf >= 2 {
				modular = append(modular, obs{set: set, peak: float64(ps.PeakMemoryMB)})
				continue
			}
			slices.Sort(set)
			k := fmt.Sprint(set)
			if o := seen[k]; o != nil {
				o.peak = max(o.peak, float64(ps.PeakMemoryMB))
				continue
			}
			seen[k] = &obs{set: set, peak: float64(ps.PeakMemoryMB)}
			order = append(order, k)
		}
	}
	mf = memoryFit{base: DefaultHostBaseMB, foot: make([]float64, n), observed: len(order) + len(modular), moduleTask: ModuleTaskMB}
	for i := range mf.foot {
		mf.foot[i] = DefaultTaskFootprintMB
	}
	defer mf.fitModules(func(yield func([]int, float64) bool) {
		for _, o := range modular {
			if !yield(o.set, o.peak) {
				return
			}
		}
	}, flags)
	if len(order) == 0 {
		return mf
	}
	// Unknowns x = [base, foot...]; minimize Σ (peak − base − Σ foot)² +
	// λ((base − B0)² + Σ (foot − F0)²). Twice: the second pass takes the
	// observed tasks' mean footprint as the prior of the unobserved ones.
	prior := DefaultTaskFootprintMB
	const lambda = 0.01
	for pass := 0; pass < 2; pass++ {
		m := n + 1
		a := make([][]float64, m)
		for i := range a {
			a[i] = make([]float64, m+1)
			a[i][i] = lambda
		}
		a[0][m] = lambda * DefaultHostBaseMB
		for i := 1; i < m; i++ {
			a[i][m] = lambda * prior
		}
		seenTask := make([]bool, n)
		for _, k := range order {
			o := seen[k]
			row := append([]int{0}, make([]int, 0, len(o.set))...)
			for _, t := range o.set {
				row = append(row, t+1)
				seenTask[t] = true
			}
			for _, i := range row {
				for _, j := range row {
					a[i][j]++
				}
				a[i][m] += o.peak
			}
		}
		x, ok := solve(a)
		if !ok {
			return mf
		}
		mf.base = max(x[0], 0)
		var sum float64
		var cnt int
		for t := range n {
			mf.foot[t] = max(x[t+1], 0)
			if seenTask[t] {
				sum += mf.foot[t]
				cnt++
			}
		}
		if cnt > 0 {
			prior = sum / float64(cnt)
		}
	}
	return mf
}

// fitModules sets moduleTask to the mean, over the module-fused groups
// given as (tasks, peak), of (peak − base − the footprints of the tasks
// that keep their own module − the largest fused footprint) ÷ (fused
// tasks − 1), at least 0.
func (mf *memoryFit) fitModules(groups func(yield func([]int, float64) bool), flags []taskFusion) {
	var sum float64
	var k int
	for set, peak := range groups {
		rest, top, nf := peak-mf.base, 0.0, 0
		for _, t := range set {
			if flags[t] == fusable {
				top = max(top, mf.foot[t])
				nf++
			} else {
				rest -= mf.foot[t]
			}
		}
		if nf < 2 {
			continue
		}
		sum += max((rest-top)/float64(nf-1), 0)
		k++
	}
	if k > 0 {
		mf.moduleTask, mf.moduleObserved = sum/float64(k), k
	}
}

// solve solves the augmented system a (m rows, m+1 columns) by Gaussian
// elimination with partial pivoting.
func solve(a [][]float64) ([]float64, bool) {
	m := len(a)
	for c := range m {
		p := c
		for r := c + 1; r < m; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-12 {
			return nil, false
		}
		a[c], a[p] = a[p], a[c]
		for r := c + 1; r < m; r++ {
			f := a[r][c] / a[c][c]
			for k := c; k <= m; k++ {
				a[r][k] -= f * a[c][k]
			}
		}
	}
	x := make([]float64, m)
	for r := m - 1; r >= 0; r-- {
		s := a[r][m]
		for k := r + 1; k < m; k++ {
			s -= a[r][k] * x[k]
		}
		x[r] = s / a[r][r]
	}
	return x, true
}

// limited reports whether place enforces a group's memory size (a cloud
// platform kills an environment over it; a local host does not).
func limited(p setup.Place) bool {
	return p.Provider != cost.ProviderLocal && p.Provider != ""
}

// PeakMB predicts the peak memory of a group holding tasks.
func (l *Learned) PeakMB(tasks []string) float64 {
	peak := l.mem.base
	for _, t := range tasks {
		if i, ok := l.idx[t]; ok {
			peak += l.mem.foot[i]
		}
	}
	return peak
}

// Footprint returns the learned memory footprint of task in MB and the
// host's base.
func (l *Learned) Footprint(task string) (foot, base float64) {
	if i, ok := l.idx[task]; ok {
		return l.mem.foot[i], l.mem.base
	}
	return 0, l.mem.base
}

// Fits reports whether every group of s fits its memory size with the
// margin, and names the first that does not.
func (l *Learned) Fits(s *setup.Setup) (bool, string) {
	for _, g := range s.Groups {
		if !limited(g.Place) {
			continue
		}
		if peak := l.GroupPeakMB(g); peak*(1+MemoryMargin) > float64(g.MemoryMB) {
			return false, fmt.Sprintf("group %q (%d tasks) is predicted to peak at %.0f MB, over %d MB with a %.0f%% margin",
				g.Name, len(g.Tasks), peak, g.MemoryMB, MemoryMargin*100)
		}
	}
	return true, ""
}

// overflow returns by how many MB the groups of a candidate exceed their
// memory with the margin (0 when all fit).
func (s *searcher) overflow(c *cand) float64 {
	l := s.l
	if cap(s.peak) < len(c.cfg) {
		s.peak = make([]float64, len(c.cfg))
	}
	peak := s.peak[:len(c.cfg)]
	for g := range peak {
		peak[g] = -1
	}
	// A group of two or more fusable tasks is module-fused (fusion.go).
	if cap(s.fused) < len(c.cfg) {
		s.fused = make([]fusedSums, len(c.cfg))
	}
	fused := s.fused[:len(c.cfg)]
	clear(fused)
	for t, g := range c.group {
		if peak[g] < 0 {
			peak[g] = l.mem.base
		}
		peak[g] += l.mem.foot[t]
		switch l.fusable[t] {
		case fusable:
			fused[g].n++
			fused[g].sum += l.mem.foot[t]
			fused[g].top = max(fused[g].top, l.mem.foot[t])
		case isolated:
			fused[g].n = math.MinInt32 // never module-fused
		}
	}
	var over float64
	for g, p := range peak {
		if p < 0 {
			continue
		}
		p = modulePeak(p, fused[g].n, fused[g].sum, fused[g].top, l.mem.moduleTask)
		cf := &l.cfgs[c.cfg[g]]
		if !limited(l.places[cf.place]) {
			continue
		}
		if need := p * (1 + MemoryMargin); need > float64(cf.mem) {
			over += need - float64(cf.mem)
		}
	}
	return over
}

// SmallestFit returns the smallest of mems that holds a group of tasks
// with the margin, or the largest of mems when none does.
func (l *Learned) SmallestFit(tasks []string, mems []int) int {
	return smallestFit(l.PeakMB(tasks), mems)
}

// smallestFit returns the smallest of mems that holds peak MB with the
// margin, or the largest of mems when none does.
func smallestFit(peak float64, mems []int) int {
	need := peak * (1 + MemoryMargin)
	s := slices.Clone(mems)
	slices.Sort(s)
	for _, m := range s {
		if float64(m) >= need {
			return m
		}
	}
	return s[len(s)-1]
}

// fusedSums are the fusable tasks of one group of a candidate: how many,
// the sum and the largest of their footprints.
type fusedSums struct {
	n        int
	sum, top float64
}
