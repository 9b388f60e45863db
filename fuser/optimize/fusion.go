package optimize

import (
	"slices"

	"github.com/fusionize/fusionize/api/setup"
)

// Module fusion in the model. A module-fused group (setup.FusionModule)
// links its Go tasks that are not isolated (App.ModuleFusable) into one
// Wasm module with one Go runtime, so it pays for one runtime instead of
// one per task: its peak is predicted as the host's base, the largest
// learned footprint among its fused tasks (one runtime with that task's
// heap) and ModuleTaskMB for each further fused task (fitted to the
// platforms' reports once a module-fused group ran), plus the footprint of
// each task that keeps its own module. For IoT's ten Go tasks that is
// 30 + 27 + 9×3 ≈ 84 MB against ≈ 300 MB instance-fused (BENCHMARKS.md,
// "Module fusion": 65–94 MB measured).
//
// The model proposes module fusion for every group of at least two
// fusable tasks and no isolated one: it never costs memory, and one runtime also starts (one
// instantiation instead of one per task) and calls (a function call
// instead of a copy through the host) faster; what it gives up, isolation
// between the tasks, the manifest keeps where it matters (isolate: true).
// With it, the search may put such a group at a memory size instance
// fusion would overflow (overflow and Fits use the module-fused peak).
// Its init is predicted per module loaded (modules), fitted to the init
// times the platforms reported; call cost keeps the instance-fused figure:
// module fusion is predicted no slower there, and the loop measures how
// much faster.
const ModuleTaskMB = 3.0

// taskFusion is what module fusion does with a task.
type taskFusion int8

const (
	ownModule taskFusion = iota // keeps a module of its own (WAT, AssemblyScript)
	fusable                     // linked into the group's fused module (Go)
	isolated                    // forbids module fusion of its group (isolate: true)
)

// fusableFlags says, per task, what module fusion does with it.
func fusableFlags(app App, tasks []string) []taskFusion {
	flags := make([]taskFusion, len(tasks))
	for i, t := range tasks {
		switch {
		case slices.Contains(app.Isolated, t):
			flags[i] = isolated
		case slices.Contains(app.ModuleFusable, t):
			flags[i] = fusable
		}
	}
	return flags
}

// modulePeak is the peak of a module-fused group from the sum of its
// tasks' footprints (peak), the number of its fused tasks and the
// footprints of those (their sum and largest), perTask MB for each fused
// task past the largest. A group of fewer than two
// fusable tasks, or with an isolated task (fused < 0), is not module-fused.
func modulePeak(peak float64, fused int, fusedSum, fusedMax, perTask float64) float64 {
	if fused < 2 {
		return peak
	}
	return peak - fusedSum + fusedMax + perTask*float64(fused-1)
}

// ModuleFusable reports whether a group of tasks has at least two tasks
// module fusion links and no isolated task, so that the model would
// module-fuse it.
func (l *Learned) ModuleFusable(tasks []string) bool {
	n := 0
	for _, t := range tasks {
		if i, ok := l.idx[t]; ok {
			switch l.fusable[i] {
			case fusable:
				n++
			case isolated:
				return false
			}
		}
	}
	return n >= 2
}

// GroupPeakMB predicts the peak memory of group g at its fusion level.
func (l *Learned) GroupPeakMB(g setup.Group) float64 {
	peak := l.PeakMB(g.Tasks)
	if !g.ModuleFused() {
		return peak
	}
	var fused int
	var sum, top float64
	for _, t := range g.Tasks {
		if i, ok := l.idx[t]; ok && l.fusable[i] == fusable {
			fused++
			sum += l.mem.foot[i]
			top = max(top, l.mem.foot[i])
		}
	}
	return modulePeak(peak, fused, sum, top, l.mem.moduleTask)
}

// modules is how many Wasm modules a group of tasks loads at init: one
// per task, or when module-fused (moduleFused and ModuleFusable) one for
// its fusable tasks and one for each other task. A cold start's init is
// mostly loading and instantiating modules (a Go runtime each), so the
// model's init time is a cost per module.
func (l *Learned) modules(tasks []string, moduleFused bool) float64 {
	if !moduleFused {
		return modulesLoaded(len(tasks), 0, false)
	}
	nf, iso := 0, false
	for _, t := range tasks {
		if i, ok := l.idx[t]; ok {
			nf += b2i(l.fusable[i] == fusable)
			iso = iso || l.fusable[i] == isolated
		}
	}
	return modulesLoaded(len(tasks), nf, iso)
}

// lightModules counts the tasks that keep a module of their own and are
// not Go (ownModule: WAT, AssemblyScript): modules with no runtime to
// start, which load in a fraction of a Go module's time.
func (l *Learned) lightModules(tasks []string) int {
	n := 0
	for _, t := range tasks {
		if i, ok := l.idx[t]; ok && l.fusable[i] == ownModule {
			n++
		}
	}
	return n
}

// modulesLoaded is what a group of n tasks, fused of them fusable, loads:
// one module for the fusable ones when there are two or more and none is
// isolated, one for each other task.
func modulesLoaded(n, fused int, isolated bool) float64 {
	if fused >= 2 && !isolated {
		return float64(n - fused + 1)
	}
	return float64(max(n, 1))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// markModuleFusion module-fuses every group of s with at least two
// fusable tasks.
func (l *Learned) markModuleFusion(s *setup.Setup) {
	for i := range s.Groups {
		if l.ModuleFusable(s.Groups[i].Tasks) {
			s.Groups[i].Fusion = setup.FusionModule
		}
	}
}
