package optimize_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/internal/simulate"
	"github.com/fusionize/fusionize/fuser/optimize"
	"github.com/fusionize/fusionize/fuser/profile"
)

const benchSpans = 1_000_000

type benchInput struct {
	app   optimize.App
	cur   *setup.Setup
	spans []span.Span
	cost  float64
}

var benchCache = map[int]*benchInput{}

// benchData simulates benchSpans spans of a random n-task app deployed with
// every task alone (each request runs every task once).
func benchData(b *testing.B, n int) *benchInput {
	if in, ok := benchCache[n]; ok {
		return in
	}
	g := simulate.Random(n, 1)
	env := simulate.New(g, profile.Default(), 1)
	cur := setup.Separate(1, g.TaskNames(), awsEast, 512)
	spans := env.Run(cur, benchSpans/n)
	prices := cost.Default()
	sum, err := prices.Summarize(spans, cost.PlacesOf(cur))
	if err != nil {
		b.Fatal(err)
	}
	in := &benchInput{app: appOf(g, manifest.Objective{Latency: "p95", LatencyWeight: 1, CostWeight: 10}), cur: cur, spans: spans, cost: sum.PerMillion}
	benchCache[n] = in
	return in
}

// BenchmarkIteration is one optimizer iteration: analytics over 1,000,000
// spans plus the model strategy's Propose (learn, search).
func BenchmarkIteration(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			d := benchData(b, n)
			m := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true, Seed: 1})
			b.ReportAllocs()
			for b.Loop() {
				rep := analytics.Analyze(d.spans, analytics.Options{Tasks: d.app.Tasks, Setups: []*setup.Setup{d.cur}})
				in := optimize.Input{App: d.app, Current: d.cur, Report: rep,
					History: []optimize.Observation{optimize.Observe(d.cur, rep, d.cost, "")}}
				if _, _, err := m.Propose(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAnalyze is the analytics half of an iteration.
func BenchmarkAnalyze(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			d := benchData(b, n)
			b.ReportAllocs()
			for b.Loop() {
				analytics.Analyze(d.spans, analytics.Options{Tasks: d.app.Tasks, Setups: []*setup.Setup{d.cur}})
			}
		})
	}
}

// BenchmarkPropose is the model half of an iteration (learn + search).
func BenchmarkPropose(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			d := benchData(b, n)
			rep := analytics.Analyze(d.spans, analytics.Options{Tasks: d.app.Tasks, Setups: []*setup.Setup{d.cur}})
			in := optimize.Input{App: d.app, Current: d.cur, Report: rep,
				History: []optimize.Observation{optimize.Observe(d.cur, rep, d.cost, "")}}
			m := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true, Seed: 1})
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := m.Propose(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProposeQuota is BenchmarkPropose with and without CPU times on
// the entry spans (every task alone, each call's CPU time its own time,
// as the Lambda runtime records it): "quota" runs every evaluation's
// invocations under their CPU quota (cfs.go), "fluid" is the model without
// CPU times. Read the ratio within one run.
func BenchmarkProposeQuota(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		d := benchData(b, n)
		withCPU := make([]span.Span, len(d.spans))
		for i, s := range d.spans {
			if s.Caller == "" || s.Remote {
				s.CPU = s.Self()
			}
			withCPU[i] = s
		}
		for _, mode := range []struct {
			name  string
			spans []span.Span
		}{{"fluid", d.spans}, {"quota", withCPU}} {
			b.Run(fmt.Sprintf("tasks=%d/%s", n, mode.name), func(b *testing.B) {
				rep := analytics.Analyze(mode.spans, analytics.Options{Tasks: d.app.Tasks, Setups: []*setup.Setup{d.cur}})
				in := optimize.Input{App: d.app, Current: d.cur, Report: rep,
					History: []optimize.Observation{optimize.Observe(d.cur, rep, d.cost, "")}}
				m := optimize.NewModel(optimize.ModelConfig{Seed: 1})
				if l, err := m.Learn(in); err != nil || (mode.name == "quota") != strings.Contains(strings.Join(l.Notes(), "\n"), "CPU quota") {
					b.Fatalf("learned %v: %v", err, l.Notes())
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := m.Propose(context.Background(), in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
