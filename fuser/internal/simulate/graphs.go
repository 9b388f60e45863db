package simulate

import (
	"fmt"
	"math/rand/v2"
)

// IoT is the paper's IoT application (Fusionize, IC2E 2022): an ingest
// task I calls CheckWeather and StoreEvent sync and CalcTraffic,
// CalcStatistics and CheckAir async; CalcTraffic raises an alert (AS)
// async; CalcStatistics calls CalcStatsLight and CalcStatsAir sync in
// parallel; CheckAir calls DoJoin sync and raises an alert async.
// CPU and I/O times are the ground truth the optimizer must learn
// (emulated); the alert task is I/O-bound, so running it beside a large
// memory size wastes money.
func IoT() Graph {
	return Graph{
		Name:  "iot",
		Entry: "I",
		Tasks: []Task{
			{Name: "I", CPUMs: 4, IOMs: 1},
			{Name: "CW", CPUMs: 6, IOMs: 2},
			{Name: "SE", CPUMs: 3, IOMs: 4},
			{Name: "CT", CPUMs: 12},
			{Name: "CS", CPUMs: 5},
			{Name: "CSL", CPUMs: 9},
			{Name: "CSA", CPUMs: 9},
			{Name: "CA", CPUMs: 6},
			{Name: "DJ", CPUMs: 7, IOMs: 3},
			{Name: "AS", CPUMs: 2, IOMs: 40}, // sends notifications: I/O-bound
		},
		Calls: []Call{
			{From: "I", To: "CW", InBytes: 512, OutBytes: 256},
			{From: "I", To: "SE", InBytes: 1024, OutBytes: 64},
			{From: "I", To: "CT", Async: true, InBytes: 1024},
			{From: "I", To: "CS", Async: true, InBytes: 1024},
			{From: "I", To: "CA", Async: true, InBytes: 1024},
			{From: "CT", To: "AS", Async: true, InBytes: 256},
			{From: "CS", To: "CSL", Parallel: true, InBytes: 2048, OutBytes: 128},
			{From: "CS", To: "CSA", Parallel: true, InBytes: 2048, OutBytes: 128},
			{From: "CA", To: "DJ", InBytes: 1024, OutBytes: 512},
			{From: "CA", To: "AS", Async: true, InBytes: 256},
		},
	}
}

// Tree is the paper's synthetic tree application: A→B sync, A→C async,
// B→D sync, D→E sync, C→F async, C→G async.
func Tree() Graph {
	return Graph{
		Name:  "tree",
		Entry: "A",
		Tasks: []Task{
			{Name: "A", CPUMs: 5}, {Name: "B", CPUMs: 8}, {Name: "C", CPUMs: 6},
			{Name: "D", CPUMs: 10}, {Name: "E", CPUMs: 4, IOMs: 2},
			{Name: "F", CPUMs: 7}, {Name: "G", CPUMs: 3, IOMs: 30},
		},
		Calls: []Call{
			{From: "A", To: "B", InBytes: 256, OutBytes: 256},
			{From: "A", To: "C", Async: true, InBytes: 256},
			{From: "B", To: "D", InBytes: 256, OutBytes: 256},
			{From: "D", To: "E", InBytes: 256, OutBytes: 256},
			{From: "C", To: "F", Async: true, InBytes: 256},
			{From: "C", To: "G", Async: true, InBytes: 256},
		},
	}
}

// Webshop is a 17-task graph modelled on the BeFaaS web shop:
//
//	frontend → (sync) checkout, getcart, addcartitem, getproduct, listproducts,
//	           searchproducts, listrecommendations, getads,
//	           supportedcurrencies, currency, shipmentquote
//	checkout → (sync) getcart, listproducts, currency, shipmentquote,
//	           shiporder, payment; (async) email, emptycart
//	listrecommendations → (sync) listproducts
//	getcart, addcartitem, emptycart → (sync) cartkvstorage
//
// One request exercises every call once (a composite of BeFaaS's workload).
func Webshop() Graph {
	sync := func(from, to string) Call { return Call{From: from, To: to, InBytes: 512, OutBytes: 2048} }
	async := func(from, to string) Call { return Call{From: from, To: to, Async: true, InBytes: 1024} }
	g := Graph{
		Name:  "webshop",
		Entry: "frontend",
		Tasks: []Task{
			{Name: "frontend", CPUMs: 6, IOMs: 1},
			{Name: "checkout", CPUMs: 5},
			{Name: "getcart", CPUMs: 2},
			{Name: "addcartitem", CPUMs: 2},
			{Name: "emptycart", CPUMs: 1},
			{Name: "cartkvstorage", CPUMs: 1, IOMs: 3},
			{Name: "listproducts", CPUMs: 4},
			{Name: "getproduct", CPUMs: 2},
			{Name: "searchproducts", CPUMs: 6},
			{Name: "listrecommendations", CPUMs: 5},
			{Name: "getads", CPUMs: 2},
			{Name: "supportedcurrencies", CPUMs: 1},
			{Name: "currency", CPUMs: 2},
			{Name: "shipmentquote", CPUMs: 3},
			{Name: "shiporder", CPUMs: 3, IOMs: 2},
			{Name: "payment", CPUMs: 4, IOMs: 5},
			{Name: "email", CPUMs: 3, IOMs: 60},
		},
	}
	for _, to := range []string{"checkout", "getcart", "addcartitem", "getproduct", "listproducts",
		"searchproducts", "listrecommendations", "getads", "supportedcurrencies", "currency", "shipmentquote"} {
		g.Calls = append(g.Calls, sync("frontend", to))
	}
	for _, to := range []string{"getcart", "listproducts", "currency", "shipmentquote", "shiporder", "payment"} {
		g.Calls = append(g.Calls, sync("checkout", to))
	}
	g.Calls = append(g.Calls, async("checkout", "email"), async("checkout", "emptycart"),
		sync("listrecommendations", "listproducts"),
		sync("getcart", "cartkvstorage"), sync("addcartitem", "cartkvstorage"), sync("emptycart", "cartkvstorage"))
	return g
}

// Random returns a seeded random call tree of n tasks named t0…t(n-1), entry
// t0: each task is called by an earlier one, 70% sync, with 0.2–5 ms of CPU.
func Random(n int, seed uint64) Graph {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	g := Graph{Name: fmt.Sprintf("random%d", n), Entry: "t0"}
	for i := 0; i < n; i++ {
		g.Tasks = append(g.Tasks, Task{Name: fmt.Sprintf("t%d", i), CPUMs: 0.2 + 4.8*rng.Float64()})
		if i > 0 {
			// Prefer recent callers so depth stays moderate but not trivial.
			from := rng.IntN(i)
			if rng.IntN(2) == 0 {
				from = max(0, i-1-rng.IntN(min(i, 8)))
			}
			g.Calls = append(g.Calls, Call{From: fmt.Sprintf("t%d", from), To: fmt.Sprintf("t%d", i),
				Async: rng.Float64() < 0.3, InBytes: 256 + rng.IntN(4096), OutBytes: 128})
		}
	}
	return g
}
