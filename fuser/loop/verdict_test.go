package loop_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/loop"
	"github.com/fusionize/fusionize/fuser/optimize"
)

// predicting proposes 256 MB once with a prediction, then says converged
// (with BoundUnmet as given).
type predicting struct {
	proposed   bool
	pred       optimize.Prediction
	boundUnmet bool
}

func (s *predicting) Name() string { return "predicting" }
func (s *predicting) Propose(_ context.Context, in optimize.Input) (*setup.Setup, optimize.Explanation, error) {
	if s.proposed {
		return in.Current, optimize.Explanation{Converged: true, BoundUnmet: s.boundUnmet, Change: "nothing left"}, nil
	}
	s.proposed = true
	p := s.pred
	return setup.Separate(0, []string{"A"}, setup.Place{Provider: "aws", Region: "us-east-1"}, 256),
		optimize.Explanation{Change: "256 MB", Predicted: &p}, nil
}

// billingEnv is a fakeEnv whose platform reports bill every invocation
// 100 ms at its memory.
type billingEnv struct{ *fakeEnv }

func (e billingEnv) Bills(_ context.Context, s *setup.Setup, since time.Time) ([]cost.Bill, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []cost.Bill
	g := s.Groups[0]
	for _, sp := range e.spans[s.Version] {
		if !sp.Start.Before(since) {
			out = append(out, cost.Bill{Group: g.Name, Place: g.Place, Time: sp.Start, Billed: 100 * time.Millisecond, MemoryMB: g.MemoryMB, MaxMemoryMB: 60})
		}
	}
	return out, nil
}

func runPredicting(t *testing.T, env loop.Env, strat *predicting, bound float64) loop.Result {
	t.Helper()
	app := &manifest.App{Name: "t", Entry: "A", Tasks: []manifest.Task{{Name: "A"}},
		Objective: manifest.Objective{Latency: "p50", LatencyBoundMs: bound}}
	initial := setup.Separate(0, []string{"A"}, setup.Place{Provider: "aws", Region: "us-east-1"}, 128)
	res, err := loop.Run(context.Background(), env, initial, loop.Options{
		App: app, Strategy: strat, Requests: 40, Warmup: -1, Settle: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func newFake(ms time.Duration) *fakeEnv {
	return &fakeEnv{spans: map[int64][]span.Span{}, latency: func(int64, int) time.Duration { return ms }}
}

func TestIterationRecordsThePredictionAndAMiss(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for spans to settle")
	}
	strat := &predicting{pred: optimize.Prediction{P50: 10 * time.Millisecond, P95: 10 * time.Millisecond, CostPerMillion: 0.6, Confidence: 0.2}}
	res := runPredicting(t, newFake(20*time.Millisecond), strat, 0)
	if len(res.Iterations) != 2 {
		t.Fatalf("iterations %+v", res.Iterations)
	}
	it := res.Iterations[1]
	if it.Predicted == nil || it.Predicted.P50Ms != 10 || it.Predicted.Confidence != 0.2 {
		t.Fatalf("second iteration's prediction %+v, want the strategy's", it.Predicted)
	}
	if !strings.Contains(it.Note, "missed: p50 +100%") {
		t.Errorf("note %q does not say the measurement missed p50 by +100%%", it.Note)
	}
	if res.Iterations[0].Predicted != nil {
		t.Errorf("the initial setup was predicted nothing, got %+v", res.Iterations[0].Predicted)
	}
}

func TestNotConvergedOverTheBoundWhileACandidateIsPredictedToMeetIt(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for spans to settle")
	}
	res := runPredicting(t, newFake(200*time.Millisecond), &predicting{}, 150)
	if res.Converged || res.BoundMet || !strings.Contains(res.Verdict, "not converged") || !strings.Contains(res.Verdict, "over the bound of 150 ms") {
		t.Fatalf("converged %v, bound met %v, verdict %q; want not converged, over the bound", res.Converged, res.BoundMet, res.Verdict)
	}
	res = runPredicting(t, newFake(200*time.Millisecond), &predicting{boundUnmet: true}, 150)
	if !res.Converged || res.BoundMet || !strings.Contains(res.Verdict, "no setup meets the bound") {
		t.Fatalf("converged %v, bound met %v, verdict %q; want it said plainly that no setup meets the bound", res.Converged, res.BoundMet, res.Verdict)
	}
	res = runPredicting(t, newFake(100*time.Millisecond), &predicting{}, 150)
	if !res.Converged || !res.BoundMet || res.Verdict != "converged" {
		t.Fatalf("within the bound: converged %v, bound met %v, verdict %q", res.Converged, res.BoundMet, res.Verdict)
	}
}

func TestCostComesFromThePlatformsBills(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for spans to settle")
	}
	res := runPredicting(t, billingEnv{newFake(20 * time.Millisecond)}, &predicting{}, 0)
	p := cost.Default()
	for _, it := range res.Iterations {
		mem := float64(it.Setup.Groups[0].MemoryMB)
		want := (0.1*mem/1024*p.AWS.X86PerGBSecond + p.AWS.PerMillionRequests/1e6) * 1e6
		if d := it.CostPerMillionUSD - want; d > 1e-9 || d < -1e-9 {
			t.Errorf("iteration %d at %v MB: $%.4f/M, want $%.4f/M from the billed 100 ms, not the 20 ms spans", it.Index, mem, it.CostPerMillionUSD, want)
		}
		if strings.Contains(it.Note, "cost from the spans") {
			t.Errorf("iteration %d note %q", it.Index, it.Note)
		}
	}
}

// queuedEnv is a billingEnv whose platform runs each window's async work
// (one more billed invocation per request) only after the requests: it
// reports that work pending for a few reads after the spans stop arriving,
// and bills it once run.
type queuedEnv struct {
	billingEnv
	mu      *sync.Mutex
	pending map[int64]int // reads of Pending left before the version's async work has run
	ran     map[int64]bool
	version int64
}

func (e *queuedEnv) Apply(ctx context.Context, s *setup.Setup) (int64, error) {
	v, err := e.billingEnv.Apply(ctx, s)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.version, e.pending[v] = v, 3
	return v, err
}

func (e *queuedEnv) Pending(context.Context) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending[e.version] > 0 {
		e.pending[e.version]--
		return 1, nil
	}
	e.ran[e.version] = true
	return 0, nil
}

func (e *queuedEnv) Bills(ctx context.Context, s *setup.Setup, since time.Time) ([]cost.Bill, error) {
	bills, err := e.billingEnv.Bills(ctx, s, since)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ran[s.Version] {
		bills = append(bills, bills...) // the async invocations, billed as much again
	}
	return bills, err
}

// TestWindowWaitsForQueuedAsyncWork: a window is priced only once the
// platform has run the async work its requests queued, not when the spans
// fall quiet; otherwise the async invocations' bills go missing and the
// setup looks cheaper than it is.
func TestWindowWaitsForQueuedAsyncWork(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for spans to settle")
	}
	env := &queuedEnv{billingEnv: billingEnv{newFake(20 * time.Millisecond)}, mu: &sync.Mutex{},
		pending: map[int64]int{}, ran: map[int64]bool{}}
	res := runPredicting(t, env, &predicting{}, 0)
	p := cost.Default()
	for _, it := range res.Iterations {
		mem := float64(it.Setup.Groups[0].MemoryMB)
		want := 2 * (0.1*mem/1024*p.AWS.X86PerGBSecond + p.AWS.PerMillionRequests/1e6) * 1e6
		if d := it.CostPerMillionUSD - want; d > 1e-9 || d < -1e-9 {
			t.Errorf("iteration %d at %v MB: $%.4f/M, want $%.4f/M with the queued async invocations billed", it.Index, mem, it.CostPerMillionUSD, want)
		}
	}
}
