package main

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/loop"
	"github.com/fusionize/fusionize/fuser/sweep"
)

// TestSweepOnRealHosts sweeps the tree app deployed as local host
// processes with a budget smaller than its candidate space: each point is
// a setup really deployed (a version of its own, with the window's spans
// recorded under it), the extremes are among them, no request fails
// through the switches, and the app still serves from the last setup.
func TestSweepOnRealHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and host processes, deploys five setups")
	}
	c := startCluster(t, filepath.Join("..", "..", "examples", "tree"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := &loop.ClientEnv{CP: c.cli, Invoker: c.inv, Task: c.app.Entry, Input: []byte(c.app.Input), Concurrency: 4, Wait: c.dep.Wait}
	const budget, requests = 5, 12
	res, err := sweep.Run(ctx, env, sweep.Options{
		App: c.app, Places: []setup.Place{{Provider: "local"}}, MemoriesMB: []int{128}, Max: budget,
		Requests: requests, Warmup: 4, Settle: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Exhaustive || res.Space <= budget {
		t.Fatalf("tree has %d candidates (exhaustive %v): the budget of %d does not sample", res.Space, res.Exhaustive, budget)
	}
	if len(res.Points) < budget-1 || len(res.Points) > budget {
		t.Fatalf("%d points measured, budget %d", len(res.Points), budget)
	}
	versions := map[int64]bool{}
	var sources []string
	for i, p := range res.Points {
		t.Logf("#%d %-16s %-40s p50 %.1f ms p95 %.1f ms $%.2f/M failed %d %s", i, p.Source, p.Setup.Partition(), p.P50Ms, p.P95Ms, p.CostPerMillion, p.Failed, p.Err)
		if !p.Usable() {
			t.Errorf("point %d (%s) not usable: %d failed, %s", i, p.Setup.Partition(), p.Failed, p.Err)
			continue
		}
		if versions[p.Setup.Version] || p.Setup.Version == 0 {
			t.Errorf("point %d: version %d is not a deployment of its own", i, p.Setup.Version)
		}
		versions[p.Setup.Version] = true
		spans, err := c.cli.AllSpans(ctx, p.Setup.Version)
		if err != nil {
			t.Fatal(err)
		}
		entries := 0
		for _, s := range spans {
			if s.Caller == "" {
				entries++
			}
		}
		if entries < requests {
			t.Errorf("point %d: %d requests recorded under version %d, measured a window of %d", i, entries, p.Setup.Version, requests)
		}
		sources = append(sources, p.Source)
	}
	for _, want := range []string{"every task alone", "all fused", "sample"} {
		if !slices.Contains(sources, want) {
			t.Errorf("no %q among the points: %v", want, sources)
		}
	}
	if res.ModelChoice < 0 || res.ModelChoice >= len(res.Points) {
		t.Errorf("the model strategy's choice %d is not a measured point", res.ModelChoice)
	}
	if len(res.Front) == 0 || res.Best < 0 {
		t.Fatalf("front %v, best %d", res.Front, res.Best)
	}
	last := res.Points[len(res.Points)-1].Setup.Version
	r, err := c.inv.Invoke(ctx, c.app.Entry, []byte(c.app.Input))
	if err != nil {
		t.Fatalf("app stopped serving after the sweep: %v", err)
	}
	if r.Version != last {
		t.Errorf("serving version %d, the sweep ended with %d", r.Version, last)
	}
}
