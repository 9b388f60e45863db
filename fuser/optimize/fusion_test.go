package optimize_test

import (
	"context"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/internal/simulate"
	"github.com/fusionize/fusionize/fuser/optimize"
)

// TestModuleFusionLetsAFusedGroupFitASmallerMemory: with Go footprints of
// 27 MB per task over a 30 MB host, IoT's ten tasks instance-fused do not
// fit 128 MB, module-fused (one runtime) they do; the model module-fuses
// every group of two or more fusable tasks it proposes, never an isolated
// task, and each fits its memory at its fusion level.
func TestModuleFusionLetsAFusedGroupFitASmallerMemory(t *testing.T) {
	g := simulate.IoT()
	env := simulate.New(g, truthProfile(), 4)
	names := g.TaskNames()
	app := appOf(g, manifest.Objective{Latency: "p50", CostWeight: 1})
	isolated := names[len(names)-1]
	for _, n := range names {
		if n != isolated {
			app.ModuleFusable = append(app.ModuleFusable, n)
		}
	}
	app.Isolated = []string{isolated}
	cur := setup.Separate(1, names, awsEast, 512)
	o := observe(t, env, app, cur, 100)
	reportPeaks(&o, 30, nil, 27)
	m := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true, Places: []setup.Place{awsEast}})
	in := optimize.Input{App: app, Current: cur, Report: o.Report, History: []optimize.Observation{o}}
	l, err := m.Learn(in)
	if err != nil {
		t.Fatal(err)
	}
	all := app.ModuleFusable
	inst := setup.Fused(2, "all", all, awsEast, 128)
	if ok, _ := l.Fits(inst); ok {
		t.Errorf("%d Go tasks instance-fused fit 128 MB (predicted %.0f MB)", len(all), l.GroupPeakMB(inst.Groups[0]))
	}
	mod := inst.Clone()
	mod.Groups[0].Fusion = setup.FusionModule
	if ok, why := l.Fits(mod); !ok {
		t.Errorf("module-fused they do not fit 128 MB: %s", why)
	}
	t.Logf("peak of %d tasks: instance-fused %.0f MB, module-fused %.0f MB", len(all), l.GroupPeakMB(inst.Groups[0]), l.GroupPeakMB(mod.Groups[0]))

	next, why, err := m.Propose(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(why.Change)
	for _, gr := range next.Groups {
		if want := l.ModuleFusable(gr.Tasks); gr.ModuleFused() != want {
			t.Errorf("group %v: fusion %q, want module-fused %v", gr.Tasks, gr.Fusion, want)
		}
	}
	if err := next.ValidateIsolation([]string{isolated}); err != nil {
		t.Error(err)
	}
	if ok, why := l.Fits(next); !ok {
		t.Errorf("proposal does not fit: %s", why)
	}
}
