package optimize

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/analytics"
)

// Breakdown is a prediction taken apart: what each task, each remote call
// and each platform invocation adds to the predicted latency and cost of a
// setup. Compare sets it beside what a measurement of the same setup shows,
// component by component, to find where a prediction goes wrong.
type Breakdown struct {
	Setup *setup.Setup
	// LatencyMs is the predicted critical path (the p50); Prediction is
	// the forecast Evaluate returns (a setup already measured is
	// predicted as it measured).
	LatencyMs  float64
	Prediction Prediction
	// HopScale is the factor the model fitted on every invoke overhead
	// from the setups it measured (CallPart.InvokeMs is before it).
	HopScale    float64
	Tasks       []TaskPart
	Calls       []CallPart
	Invocations []InvocationPart
}

// TaskPart is one task's share of a prediction.
type TaskPart struct {
	Task, Place string
	Speed       float64 // CPU share of its group's memory (1 = one vCPU)
	// OwnMs = CPUMs + OtherMs: the learned CPU part at Speed and the part
	// that does not scale with CPU. With measured CPU times (the model's
	// notes say so) OwnMs is at full speed and CPUMs is one call's CPU
	// time as measured, which includes the host's work for an invocation
	// and may exceed OwnMs; OtherMs is then OwnMs − CPUMs, at least 0.
	OwnMs, CPUMs, OtherMs float64
	// WaitMs is time blocked on sync callees (their latency, and for
	// remote ones the hop), SharedMs what in-memory work beside it takes
	// from its CPU share, or, with measured CPU times, how long its
	// environment's CPU quota holds back the invocation it begins;
	// DurationMs = OwnMs + WaitMs + SharedMs.
	WaitMs, SharedMs, DurationMs float64
	// OutlastMs is how long work under it runs after it: in-memory async
	// tasks, and remote async calls the host dispatches in the background.
	OutlastMs float64
}

// CallPart is one remote call edge's hop.
type CallPart struct {
	Caller, Callee, From, To string
	Sync                     bool
	PerInvocation            float64
	// InvokeMs + RTTMs + TransferMs is the hop; ColdMs the expected cold
	// start a sync call waits for.
	InvokeMs, RTTMs, TransferMs, ColdMs float64
}

// InvocationPart is one platform invocation's predicted bill (the entry
// and every remote call into a task).
type InvocationPart struct {
	Task, Place string
	PerRequest  float64
	// RunMs is the billed run time (latency plus in-memory async work
	// outlasting it), InitMs the expected billed cold start (init, and the
	// first calls its new environment runs), BilledMs their sum rounded up
	// to the platform's granularity.
	RunMs, InitMs, BilledMs float64
	// ColdStartMs is one cold start of its environment: init and first
	// calls (InitMs is it times the expected cold-start rate).
	ColdStartMs     float64
	FeeUSD, CostUSD float64 // per invocation; CostUSD per request
}

// Breakdown predicts s and returns the prediction's components.
func (l *Learned) Breakdown(s *setup.Setup) (*Breakdown, error) {
	group, gp, err := l.compile(s)
	if err != nil {
		return nil, err
	}
	b := &Breakdown{Setup: s.Clone(), Tasks: make([]TaskPart, len(l.tasks)), HopScale: l.hopScale}
	b.LatencyMs, _ = l.eval(group, gp, &evalBuf{tr: b})
	p, err := l.Evaluate(s)
	if err != nil {
		return nil, err
	}
	b.Prediction = p
	sort.Slice(b.Invocations, func(i, j int) bool { return b.Invocations[i].Task < b.Invocations[j].Task })
	return b, nil
}

// Compare writes the breakdown beside the measurement r of the same setup
// (its spans analysed, the platforms' reports added): per task the own
// time, per link the remote-call overhead, per group the cold starts and
// the billed time, then end-to-end latency and cost. costPerMillion is the
// measured cost (from the platforms' reports).
func (b *Breakdown) Compare(r *analytics.Report, costPerMillion float64) string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(&sb, "setup %s\n", describe(b.Setup))
	fmt.Fprintln(tw, "task\tspeed\tpredicted own ms\t(cpu + other)\tmeasured own ms\terror\tpredicted wait ms\tshared ms\tduration ms\t")
	for _, t := range b.Tasks {
		meas := 0.0
		if ts := r.Tasks[t.Task]; ts != nil {
			meas = ms(ts.Self.Mean)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.2f\t(%.2f + %.2f)\t%.2f\t%s\t%.2f\t%.2f\t%.2f\t\n", t.Task, t.Speed, t.OwnMs, t.CPUMs, t.OtherMs, meas, pct(t.OwnMs, meas), t.WaitMs, t.SharedMs, t.DurationMs)
	}
	_ = tw.Flush()
	if len(b.Calls) > 0 {
		fmt.Fprintln(tw, "remote call\tlink\tsync\tinvoke ms\trtt ms\txfer ms\tcold ms\tmeasured overhead ms (link)\t")
		for _, c := range b.Calls {
			meas := "-"
			if o := r.Overhead[analytics.Link{From: c.From, To: c.To}]; o != nil {
				meas = fmt.Sprintf("%.2f (%d calls)", ms(o.Mean), o.Count)
			}
			fmt.Fprintf(tw, "%s→%s\t%s→%s\t%v\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n", c.Caller, c.Callee, c.From, c.To, c.Sync, c.InvokeMs, c.RTTMs, c.TransferMs, c.ColdMs, meas)
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(tw, "invoked task\tper request\trun ms\tinit ms\tbilled ms\t$/M\tcold start ms\tmeasured group: invocations/request\tbilled ms\tcold\tinit ms\tcold start ms\t")
	for _, inv := range b.Invocations {
		meas := "-\t-\t-\t-\t-"
		for _, ps := range r.PlatformList() {
			if len(ps.Tasks) > 0 && slices.Contains(ps.Tasks, inv.Task) && ps.Invocations > 0 && r.Requests > 0 {
				meas = fmt.Sprintf("%.2f\t%.2f\t%d/%d\t%.1f\t%.1f", float64(ps.Invocations)/float64(r.Requests), ms(ps.Billed)/float64(ps.Invocations), ps.Cold, ps.Invocations, ms(ps.InitMean), ms(ps.ColdStart()))
			}
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t\n", inv.Task, inv.PerRequest, inv.RunMs, inv.InitMs, inv.BilledMs, inv.CostUSD*1e6, inv.ColdStartMs, meas)
	}
	_ = tw.Flush()
	d := r.Latency[b.Setup.Version]
	fmt.Fprintf(&sb, "latency: path %.2f ms (invoke overheads × %.3f): p50 %.2f ms, p95 %.2f ms; measured p50 %.2f ms (mean %.2f), p95 %.2f ms: error p50 %s, p95 %s\n",
		b.LatencyMs, b.HopScale, ms(b.Prediction.P50), ms(b.Prediction.P95), ms(d.P50), ms(d.Mean), ms(d.P95), pct(ms(b.Prediction.P50), ms(d.P50)), pct(ms(b.Prediction.P95), ms(d.P95)))
	fmt.Fprintf(&sb, "cost: predicted $%.3f/M; measured $%.3f/M: error %s\n", b.Prediction.CostPerMillion, costPerMillion, pct(b.Prediction.CostPerMillion, costPerMillion))
	return sb.String()
}

// pct is the relative error of pred against meas, as "+12%".
func pct(pred, meas float64) string {
	if meas == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", 100*(pred-meas)/meas)
}
