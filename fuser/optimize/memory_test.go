package optimize_test

import (
	"context"
	"math"
	"testing"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/internal/simulate"
	"github.com/fusionize/fusionize/fuser/optimize"
)

// reportPeaks adds bills to the observation's report as the platform would
// report them: each group's max memory used is base + Σ foot of its tasks.
func reportPeaks(o *optimize.Observation, base float64, foot map[string]float64, def float64) {
	var bills []cost.Bill
	for _, g := range o.Setup.Groups {
		peak := base
		for _, t := range g.Tasks {
			if f, ok := foot[t]; ok {
				peak += f
			} else {
				peak += def
			}
		}
		bills = append(bills, cost.Bill{Group: g.Name, Place: g.Place, MemoryMB: g.MemoryMB, MaxMemoryMB: int(math.Round(peak)), Billed: 10e6})
	}
	o.Report.AddBills(o.Setup, bills)
}

func TestMemoryFootprintsComeFromMaxMemoryUsed(t *testing.T) {
	g := simulate.Tree()
	env := simulate.New(g, truthProfile(), 3)
	app := appOf(g, manifest.Objective{})
	names := g.TaskNames()
	sep := setup.Separate(1, names, awsEast, 1024)
	fused := setup.Fused(2, "all", names, awsEast, 1024)
	a, b := observe(t, env, app, sep, 50), observe(t, env, app, fused, 50)
	heavy := names[1]
	foot := map[string]float64{heavy: 150}
	reportPeaks(&a, 40, foot, 10)
	reportPeaks(&b, 40, foot, 10)
	l, err := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true}).Learn(optimize.Input{App: app, Current: fused, Report: b.Report,
		History: []optimize.Observation{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	f, base := l.Footprint(heavy)
	if math.Abs(base-40) > 4 || math.Abs(f-150) > 4 {
		t.Errorf("fitted base %.1f MB, %s %.1f MB; want 40 and 150", base, heavy, f)
	}
	want := 40 + 150 + 10*float64(len(names)-1)
	if got := l.PeakMB(names); math.Abs(got-want) > 5 {
		t.Errorf("predicted peak of all fused %.1f MB, want %.1f", got, want)
	}
}

func TestModelNeverProposesAGroupOverItsMemory(t *testing.T) {
	for _, g := range []simulate.Graph{simulate.IoT(), simulate.Tree(), simulate.Webshop()} {
		t.Run(g.Name, func(t *testing.T) {
			env := simulate.New(g, truthProfile(), 4)
			// Cost alone favours fusing at the smallest memory; the Go
			// tasks' footprints forbid it.
			app := appOf(g, manifest.Objective{Latency: "p50", CostWeight: 1})
			names := g.TaskNames()
			cur := setup.Separate(1, names, awsEast, 512)
			o := observe(t, env, app, cur, 100)
			reportPeaks(&o, 30, nil, 27)
			m := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true, Places: []setup.Place{awsEast}})
			in := optimize.Input{App: app, Current: cur, Report: o.Report, History: []optimize.Observation{o}}
			next, why, err := m.Propose(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(why.Change)
			for _, gr := range next.Groups {
				need := (30 + 27*float64(len(gr.Tasks))) * (1 + optimize.MemoryMargin)
				if float64(gr.MemoryMB) < need {
					t.Errorf("group %v at %d MB: predicted peak with margin %.0f MB does not fit", gr.Tasks, gr.MemoryMB, need)
				}
			}
			l, err := m.Learn(in)
			if err != nil {
				t.Fatal(err)
			}
			if ok, why := l.Fits(setup.Fused(2, "all", names, awsEast, 128)); ok {
				t.Errorf("all %d tasks fused at 128 MB fit, want a refusal", len(names))
			} else {
				t.Log(why)
			}
		})
	}
}

func TestInMemoryAsyncWorkSharesTheEnvironmentsCPU(t *testing.T) {
	g := simulate.IoT()
	env := simulate.New(g, truthProfile(), 6)
	env.ColdRate = 0
	app := appOf(g, manifest.Objective{})
	names := g.TaskNames()
	a := observe(t, env, app, setup.Separate(1, names, awsEast, 256), 200)
	b := observe(t, env, app, setup.Separate(2, names, awsEast, 1769), 200)
	in := optimize.Input{App: app, Current: b.Setup, Report: b.Report, History: []optimize.Observation{a, b}}
	shared, err := optimize.NewModel(optimize.ModelConfig{}).Learn(in)
	if err != nil {
		t.Fatal(err)
	}
	own, err := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true}).Learn(in)
	if err != nil {
		t.Fatal(err)
	}
	fused := setup.Fused(3, "all", names, awsEast, 512)
	ps, err := shared.Evaluate(fused)
	if err != nil {
		t.Fatal(err)
	}
	po, err := own.Evaluate(fused)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all fused at 512 MB: shared CPU %v $%.2f/M, own CPU per async call %v $%.2f/M", ps.P50, ps.CostPerMillion, po.P50, po.CostPerMillion)
	if ps.CostPerMillion <= po.CostPerMillion*1.05 || ps.P50 < po.P50 {
		t.Errorf("sharing the CPU should bill the async fan-out's work in sequence: shared $%.2f/M vs own $%.2f/M", ps.CostPerMillion, po.CostPerMillion)
	}
	// Separate groups share nothing: the two models agree.
	sp, _ := shared.Evaluate(b.Setup)
	op, _ := own.Evaluate(b.Setup)
	if math.Abs(sp.CostPerMillion-op.CostPerMillion) > 1e-9 || sp.P50 != op.P50 {
		t.Errorf("separate setup: shared %v/$%.3f, own %v/$%.3f; want equal", sp.P50, sp.CostPerMillion, op.P50, op.CostPerMillion)
	}
}

func TestModelRefitsToAMeasurementThatMissedItsPrediction(t *testing.T) {
	g := simulate.Tree()
	env := simulate.New(g, truthProfile(), 7)
	app := appOf(g, manifest.Objective{Latency: "p95", LatencyBoundMs: 100})
	names := g.TaskNames()
	m := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true, Places: []setup.Place{awsEast}})
	cur := setup.Separate(1, names, awsEast, 512)
	o := observe(t, env, app, cur, 100)
	in := optimize.Input{App: app, Current: cur, Report: o.Report, History: []optimize.Observation{o}}
	next, why, err := m.Propose(context.Background(), in)
	if err != nil || why.Predicted == nil || why.Converged {
		t.Fatalf("first proposal: %v, %+v", err, why)
	}
	// The platform measures the proposal three times slower than predicted.
	on := observe(t, env, app, next, 100)
	on.Predicted = why.Predicted.Record()
	on.P50Ms, on.P95Ms = 3*on.Predicted.P50Ms, 3*on.Predicted.P95Ms
	in = optimize.Input{App: app, Current: next, Report: on.Report, History: []optimize.Observation{o, on}}
	if missed, _ := on.Missed(); !missed {
		t.Fatal("a measurement 3× the prediction is not a miss")
	}
	l, err := m.Learn(in)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Evaluate(next)
	if err != nil {
		t.Fatal(err)
	}
	if e := math.Abs(float64(p.P50)/1e6-on.P50Ms) / on.P50Ms; e > 0.05 {
		t.Errorf("after the miss the model predicts p50 %v for the measured setup, measured %.1f ms (%.0f%% off)", p.P50, on.P50Ms, 100*e)
	}
	if p.Confidence <= why.Predicted.Confidence {
		t.Errorf("confidence ±%.0f%% after a 200%% miss, was ±%.0f%%: it should widen", 100*p.Confidence, 100*why.Predicted.Confidence)
	}
	_, why2, err := m.Propose(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(why2.Change)
	if why2.Converged && !why2.BoundUnmet && float64(p.Latency)/1e6 > 100 {
		t.Errorf("converged on a setup predicted over the bound without saying no setup meets it: %s", why2.Change)
	}
}

func TestModelSkipsASetupTheLoopRolledBack(t *testing.T) {
	g := simulate.IoT()
	env := simulate.New(g, truthProfile(), 9)
	app := appOf(g, manifest.Objective{Latency: "p50", LatencyBoundMs: 150})
	names := g.TaskNames()
	m := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true, Places: []setup.Place{awsEast}})
	cur := setup.Separate(1, names, awsEast, 512)
	o := observe(t, env, app, cur, 100)
	in := optimize.Input{App: app, Current: cur, Report: o.Report, History: []optimize.Observation{o}}
	first, _, err := m.Propose(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	// The loop measured it better but rolled it back: its requests failed.
	bad := observe(t, env, app, first, 100)
	bad.Decision = api.DecisionRollback
	back := cur.Clone()
	back.Version = first.Version + 1
	in = optimize.Input{App: app, Current: back, Report: o.Report, History: []optimize.Observation{o, bad}}
	next, why, err := m.Propose(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if optimize.Key(next) == optimize.Key(first) {
		t.Fatalf("proposed the rolled-back setup %s again: %s", optimize.Key(first), why.Change)
	}
	t.Log(why.Change)
}

func TestBilledInitOfColdStartsIsPartOfPredictedCost(t *testing.T) {
	g := simulate.Tree()
	env := simulate.New(g, truthProfile(), 10)
	app := appOf(g, manifest.Objective{})
	names := g.TaskNames()
	cur := setup.Separate(1, names, awsEast, 512)
	plain := observe(t, env, app, cur, 100)
	billed := observe(t, env, app, cur, 100)
	var bills []cost.Bill
	for _, gr := range cur.Groups { // every other invocation cold, 400 ms of init at 512 MB
		for i := range 10 {
			bills = append(bills, cost.Bill{Group: gr.Name, Place: gr.Place, MemoryMB: 512, MaxMemoryMB: 60, Billed: 10e6, Cold: i%2 == 0, Init: 400e6})
		}
	}
	billed.Report.AddBills(cur, bills)
	m := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true})
	lp, err := m.Learn(optimize.Input{App: app, Current: cur, Report: plain.Report})
	if err != nil {
		t.Fatal(err)
	}
	lb, err := m.Learn(optimize.Input{App: app, Current: cur, Report: billed.Report})
	if err != nil {
		t.Fatal(err)
	}
	pp, _ := lp.Evaluate(cur)
	pb, _ := lb.Evaluate(cur)
	// Half the invocations bill 400 ms more at 512 MB.
	extra := 0.5 * 0.4 * 0.5 * cost.Default().AWS.X86PerGBSecond * 1e6
	t.Logf("without reports $%.2f/M, with a 50%% cold rate and 400 ms init $%.2f/M (≥ +$%.2f/M per invocation)", pp.CostPerMillion, pb.CostPerMillion, extra)
	if pb.CostPerMillion < pp.CostPerMillion+extra {
		t.Errorf("predicted cost with billed init $%.2f/M, want at least $%.2f/M", pb.CostPerMillion, pp.CostPerMillion+extra)
	}
}

// TestModuleFusedPeaksTeachWhatAFusedTaskAdds: the peak a module-fused
// group reported does not pull the per-task footprints down (it is not
// base + Σ footprints); it gives what each fused task past the largest
// adds, which the module-fused prediction then uses.
func TestModuleFusedPeaksTeachWhatAFusedTaskAdds(t *testing.T) {
	g := simulate.Tree()
	env := simulate.New(g, truthProfile(), 3)
	app := appOf(g, manifest.Objective{})
	names := g.TaskNames()
	app.ModuleFusable = names
	sep := setup.Separate(1, names, awsEast, 1024)
	fused := setup.Fused(2, "all", names, awsEast, 1024)
	fused.Groups[0].Fusion = setup.FusionModule
	a, b := observe(t, env, app, sep, 50), observe(t, env, app, fused, 50)
	reportPeaks(&a, 30, nil, 27)
	// One runtime: base + the largest footprint + 5 MB per further task.
	b.Report.AddBills(b.Setup, []cost.Bill{{Group: fused.Groups[0].Name, Place: awsEast, MemoryMB: 1024,
		MaxMemoryMB: 30 + 27 + 5*(len(names)-1), Billed: 10e6}})
	l, err := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true}).Learn(optimize.Input{App: app, Current: fused, Report: b.Report,
		History: []optimize.Observation{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	if f, base := l.Footprint(names[0]); math.Abs(base-30) > 3 || math.Abs(f-27) > 3 {
		t.Errorf("fitted base %.1f MB, footprint %.1f MB; want 30 and 27, as the separate groups reported", base, f)
	}
	want := float64(30 + 27 + 5*(len(names)-1))
	if got := l.GroupPeakMB(fused.Groups[0]); math.Abs(got-want) > 3 {
		t.Errorf("predicted module-fused peak %.1f MB, want the reported %.0f", got, want)
	}
}
