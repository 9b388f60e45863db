package loop_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/loop"
	"github.com/fusionize/fusionize/fuser/optimize"
)

// fakeEnv serves every version at once; version v's requests take
// latency(v, i).
type fakeEnv struct {
	latency func(v int64, i int) time.Duration

	mu      sync.Mutex
	version int64
	spans   map[int64][]span.Span
	seq     int
}

func (e *fakeEnv) Apply(_ context.Context, _ *setup.Setup) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.version++
	return e.version, nil
}

func (e *fakeEnv) Drive(_ context.Context, n int, _ func(int, int)) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range n {
		e.seq++
		e.spans[e.version] = append(e.spans[e.version], span.Span{
			TraceID: fmt.Sprintf("t%d", e.seq), ID: 1, Task: "A", Group: "A", Host: "h",
			SetupVersion: e.version, Start: time.Now(), Duration: e.latency(e.version, i), MemoryMB: 128,
		})
	}
	return 0, nil
}

func (e *fakeEnv) Spans(_ context.Context, v int64) ([]span.Span, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]span.Span(nil), e.spans[v]...), nil
}

func (e *fakeEnv) Record(context.Context, api.Iteration) error { return nil }

// oneChange proposes 256 MB once, then converges.
type oneChange struct{ proposed bool }

func (s *oneChange) Name() string { return "one-change" }
func (s *oneChange) Propose(_ context.Context, in optimize.Input) (*setup.Setup, optimize.Explanation, error) {
	if s.proposed {
		return in.Current, optimize.Explanation{Converged: true}, nil
	}
	s.proposed = true
	return setup.Separate(0, []string{"A"}, setup.Place{Provider: "local"}, 256), optimize.Explanation{Change: "256 MB"}, nil
}

// TestBestIsTheSetupServingAtTheEnd: a second setup that measures a little
// worse, but not significantly, stays deployed ("kept, no significant
// difference"); the loop must then report it as the setup that serves.
func TestBestIsTheSetupServingAtTheEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for spans to settle")
	}
	env := &fakeEnv{spans: map[int64][]span.Span{}, latency: func(v int64, i int) time.Duration {
		d := 10*time.Millisecond + time.Duration(i%7)*time.Millisecond
		if v > 1 {
			d += 100 * time.Microsecond // worse by a hair: the same by the tests
		}
		return d
	}}
	app := &manifest.App{Name: "t", Entry: "A", Tasks: []manifest.Task{{Name: "A"}}, Objective: manifest.Objective{Latency: "p50", LatencyWeight: 1}}
	initial := setup.Separate(0, []string{"A"}, setup.Place{Provider: "local"}, 128)
	res, err := loop.Run(context.Background(), env, initial, loop.Options{
		App: app, Strategy: &oneChange{}, Requests: 40, Warmup: -1, Settle: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Iterations); n != 2 || res.Iterations[1].Decision != api.DecisionSame {
		t.Fatalf("iterations %+v: want the second kept with no significant difference", res.Iterations)
	}
	if res.Best == nil || res.Best.Version != env.version {
		t.Fatalf("Best = %+v, want the serving setup version %d", res.Best, env.version)
	}
}

// timedEnv is a fakeEnv whose client also timed its requests: every tenth
// waited for a cold start of the entry's environment that its span, which
// starts once the environment is up, does not hold.
type timedEnv struct {
	*fakeEnv
	cold time.Duration
}

func (e *timedEnv) Timed(v int64) []loop.Timed {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []loop.Timed
	for i, sp := range e.spans[v] {
		d := sp.Duration + time.Millisecond // the client's own round trip
		if i%10 == 9 {
			d += e.cold
		}
		out = append(out, loop.Timed{Trace: sp.TraceID, D: d})
	}
	return out
}

// TestLatencyIsWhatTheClientTimed: when the Env timed its requests, the
// measured percentiles are the client's, cold starts of the entry
// included, not the entry spans' durations.
func TestLatencyIsWhatTheClientTimed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for spans to settle")
	}
	env := &timedEnv{fakeEnv: &fakeEnv{spans: map[int64][]span.Span{}, latency: func(int64, int) time.Duration { return 10 * time.Millisecond }}, cold: 800 * time.Millisecond}
	app := &manifest.App{Name: "t", Entry: "A", Tasks: []manifest.Task{{Name: "A"}}, Objective: manifest.Objective{Latency: "p95", LatencyBoundMs: 100}}
	m, err := loop.Measure(context.Background(), env, setup.Separate(0, []string{"A"}, setup.Place{Provider: "local"}, 128), loop.Options{
		App: app, Requests: 40, Warmup: -1, Settle: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.P50 != 11*time.Millisecond || m.P95 != 811*time.Millisecond {
		t.Fatalf("p50 %v, p95 %v: want the client's 11ms and 811ms (four cold starts in 40 requests), not the spans' 10ms", m.P50, m.P95)
	}
}

// coldEnv is a fakeEnv with platform reports: its entry meets a cold
// start in each of the first colds warm-up rounds.
type coldEnv struct {
	*fakeEnv
	colds, rounds, driven int
}

func (e *coldEnv) Drive(ctx context.Context, n int, p func(int, int)) (int, error) {
	e.driven += n
	return e.fakeEnv.Drive(ctx, n, p)
}

func (e *coldEnv) Bills(_ context.Context, s *setup.Setup, since time.Time) ([]cost.Bill, error) {
	e.rounds++
	b := cost.Bill{Group: "A", Place: s.Groups[0].Place, Time: since, Duration: time.Millisecond, Billed: time.Millisecond, MemoryMB: 128}
	if e.rounds <= e.colds {
		b.Cold, b.Init = true, time.Second
	}
	return []cost.Bill{b}, nil
}

// TestWarmUpGoesOnWhileTheSyncPathStartsCold: the loop drives further
// warm-up rounds while the platforms report a cold start on the sync path
// in the last one, and at most WarmupRounds of them.
func TestWarmUpGoesOnWhileTheSyncPathStartsCold(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for spans to settle")
	}
	app := &manifest.App{Name: "t", Entry: "A", Tasks: []manifest.Task{{Name: "A"}}, Objective: manifest.Objective{Latency: "p50", LatencyWeight: 1}}
	for _, c := range []struct{ colds, rounds, want int }{{0, 0, 10}, {2, 0, 30}, {9, 3, 40}} {
		env := &coldEnv{fakeEnv: &fakeEnv{spans: map[int64][]span.Span{}, latency: func(int64, int) time.Duration { return time.Millisecond }}, colds: c.colds}
		_, err := loop.Measure(context.Background(), env, setup.Separate(0, []string{"A"}, setup.Place{Provider: "aws", Region: "us-east-1"}, 128), loop.Options{
			App: app, Requests: 20, Warmup: 10, WarmupRounds: c.rounds, Settle: time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := env.driven - 20; got != c.want {
			t.Errorf("%d cold rounds, at most %d more: %d warm-up requests, want %d", c.colds, c.rounds, got, c.want)
		}
	}
}

// drainEnv is a fakeEnv whose platform runs the async work each Drive
// queued over the next few reads of Pending.
type drainEnv struct {
	*fakeEnv
	pending   int
	startedAt []int // pending work when each Drive began
}

func (e *drainEnv) Drive(ctx context.Context, n int, p func(int, int)) (int, error) {
	e.startedAt = append(e.startedAt, e.pending)
	e.pending = 3
	return e.fakeEnv.Drive(ctx, n, p)
}

func (e *drainEnv) Pending(context.Context) (int, error) {
	if e.pending > 0 {
		e.pending--
	}
	return e.pending, nil
}

// TestWindowStartsOnceTheWarmUpsAsyncWorkRan: the async work the warm-up
// queued runs before the window begins, so none of it is billed to the
// window's requests.
func TestWindowStartsOnceTheWarmUpsAsyncWorkRan(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for spans to settle")
	}
	app := &manifest.App{Name: "t", Entry: "A", Tasks: []manifest.Task{{Name: "A"}}, Objective: manifest.Objective{Latency: "p50", LatencyWeight: 1}}
	env := &drainEnv{fakeEnv: &fakeEnv{spans: map[int64][]span.Span{}, latency: func(int64, int) time.Duration { return time.Millisecond }}}
	if _, err := loop.Measure(context.Background(), env, setup.Separate(0, []string{"A"}, setup.Place{Provider: "local"}, 128), loop.Options{
		App: app, Requests: 20, Warmup: 10, Settle: time.Millisecond,
	}); err != nil {
		t.Fatal(err)
	}
	if len(env.startedAt) != 2 || env.startedAt[1] != 0 {
		t.Fatalf("pending async work when each Drive began: %v, want the window's (the second) to begin with none", env.startedAt)
	}
}

// TestPlatformLatenciesTakeOutTheStretchOfWhatTheRequestWaitedFor: each
// request loses the stretch of its entry invocation and of every sync call
// to another group on its way (nested ones too); of calls one task made
// side by side only the largest counts; an async call's, a sync call's
// under an async one, another trace's and an in-memory call's do not; of an
// invocation that ran on after its answer, the answer's share counts; a
// request the platform recorded nothing for stays as timed.
func TestPlatformLatenciesTakeOutTheStretchOfWhatTheRequestWaitedFor(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	const ms = time.Millisecond
	spans := []span.Span{
		// a: A (g1) calls B (g2) then C (g3) in turn; C calls D (g2 again) and,
		// side by side, E (g4) and F (g5); G (g6) async; H in memory.
		{TraceID: "a", ID: 1, Task: "A", Group: "g1", Start: at(0), Duration: 100 * ms},
		{TraceID: "a", ID: 2, ParentID: 1, Caller: "A", Task: "B", Group: "g2", Remote: true, Start: at(1), Duration: 10 * ms},
		{TraceID: "a", ID: 3, ParentID: 1, Caller: "A", Task: "C", Group: "g3", Remote: true, Start: at(20), Duration: 60 * ms},
		{TraceID: "a", ID: 4, ParentID: 3, Caller: "C", Task: "D", Group: "g2", Remote: true, Start: at(21), Duration: 5 * ms},
		{TraceID: "a", ID: 5, ParentID: 3, Caller: "C", Task: "E", Group: "g4", Remote: true, Start: at(30), Duration: 20 * ms},
		{TraceID: "a", ID: 6, ParentID: 3, Caller: "C", Task: "F", Group: "g5", Remote: true, Start: at(31), Duration: 20 * ms},
		{TraceID: "a", ID: 7, ParentID: 1, Caller: "A", Task: "G", Group: "g6", Remote: true, Async: true, Start: at(90), Duration: 50 * ms},
		{TraceID: "a", ID: 8, ParentID: 1, Caller: "A", Task: "H", Group: "g1", Start: at(85), Duration: 5 * ms},
		// G calls K (g7) sync, after the answer: not waited for.
		{TraceID: "a", ID: 9, ParentID: 7, Caller: "G", Task: "K", Group: "g7", Remote: true, Start: at(95), Duration: 30 * ms},
		{TraceID: "b", ID: 1, Task: "A", Group: "g1", Start: at(0), Duration: 50 * ms},
		{TraceID: "c", ID: 1, Task: "A", Group: "g1", Start: at(0), Duration: 9 * ms},
		// d: the entry answered after 40 ms and ran to 80 ms on the clock.
		{TraceID: "d", ID: 1, Task: "A", Group: "g1", Start: at(0), Duration: 40 * ms},
	}
	bills := []cost.Bill{
		{Group: "g1", Trace: "a", Time: at(0), Stretch: 30 * ms},
		{Group: "g2", Trace: "a", Time: at(21), Stretch: 2 * ms}, // D's: the second of g2
		{Group: "g2", Trace: "a", Time: at(1), Stretch: 1 * ms},  // B's
		{Group: "g3", Trace: "a", Time: at(20), Stretch: 4 * ms},
		{Group: "g4", Trace: "a", Time: at(30), Stretch: 8 * ms},
		{Group: "g5", Trace: "a", Time: at(31), Stretch: 16 * ms}, // beside E: only the larger
		{Group: "g6", Trace: "a", Time: at(90), Stretch: 500 * ms, Async: true},
		{Group: "g7", Trace: "a", Time: at(95), Stretch: 40 * ms},
		{Group: "g1", Trace: "b", Time: at(0), Stretch: time.Second}, // more than timed
		{Group: "g1", Trace: "d", Time: at(0), Stretch: 20 * ms, Wall: 80 * ms},
	}
	reqs := []loop.Timed{{Trace: "a", D: 100 * ms}, {Trace: "b", D: 200 * ms}, {Trace: "c", D: 9 * ms}, {Trace: "d", D: 45 * ms}}
	got := loop.PlatformLatencies(reqs, spans, bills)
	want := []time.Duration{(100 - 30 - 1 - 4 - 2 - 16) * ms, 0, 9 * ms, (45 - 10) * ms}
	if !slices.Equal(got, want) {
		t.Fatalf("PlatformLatencies = %v, want %v", got, want)
	}
}

// TestEnvironmentTimeTakesTheWaitOutOfRunningWork: an invocation that took
// 30 ms longer on the machine's clock than its Duration loses those 30 ms
// from its spans' own time, in proportion to it (not from the time it
// waited on a remote callee); a caller loses from its wait what its sync
// callee lost, so its own time and the remote call's cost (its wait less
// its callees' durations) stay; an invocation with no bill keeps its
// spans.
func TestEnvironmentTimeTakesTheWaitOutOfRunningWork(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	const ms = time.Millisecond
	spans := []span.Span{
		{TraceID: "a", ID: 1, Task: "A", Group: "g1", Start: at(0), Duration: 100 * ms, Wait: 75 * ms},           // own 25
		{TraceID: "a", ID: 2, ParentID: 1, Caller: "A", Task: "M", Group: "g1", Start: at(1), Duration: 30 * ms}, // in memory, own 30
		{TraceID: "a", ID: 3, ParentID: 1, Caller: "A", Task: "B", Group: "g2", Remote: true, Start: at(50), Duration: 40 * ms},
		{TraceID: "b", ID: 1, Task: "A", Group: "g1", Start: at(0), Duration: 10 * ms},
	}
	bills := []cost.Bill{
		{Group: "g1", Trace: "a", Time: at(0), Duration: 100 * ms, Wall: 130 * ms},
		{Group: "g2", Trace: "a", Time: at(50), Duration: 40 * ms, Wall: 40 * ms},
	}
	got := loop.EnvironmentTime(spans, bills)
	// g1 ran 130 ms on the clock, 40 of them blocked on B: the 30 ms wait
	// is a third of its 90 ms running, taken from A's own 25 ms and M's 30.
	want := []struct{ d, w time.Duration }{{100*ms - 25*ms/3 - 10*ms, 65 * ms}, {20 * ms, 0}, {40 * ms, 0}, {10 * ms, 0}}
	for i, sp := range got {
		if sp.Duration != want[i].d || sp.Wait != want[i].w {
			t.Errorf("span %s/%s: duration %v wait %v, want %v and %v", sp.TraceID, sp.Task, sp.Duration, sp.Wait, want[i].d, want[i].w)
		}
	}
	if a := got[0]; a.Wait-got[1].Duration-got[2].Duration != 5*ms {
		t.Errorf("A's wait less its callees' durations is %v, want the 5 ms it was", a.Wait-got[1].Duration-got[2].Duration)
	}
	if spans[0].Duration != 100*ms {
		t.Error("EnvironmentTime changed its input")
	}
}

// TestWindowBillsKeepsTheWindowsRequestsOnly: the warm-up's async work
// that ran inside the window is not the window's; a bill without a trace
// (a platform that records none) stays.
func TestWindowBillsKeepsTheWindowsRequestsOnly(t *testing.T) {
	bills := []cost.Bill{{Group: "a", Trace: "w1"}, {Group: "b", Trace: "warmup"}, {Group: "c"}, {Group: "d", Trace: "w2"}}
	got := loop.WindowBills(bills, map[string]bool{"w1": true, "w2": true})
	var groups []string
	for _, b := range got {
		groups = append(groups, b.Group)
	}
	if strings.Join(groups, ",") != "a,c,d" {
		t.Errorf("kept %v, want a,c,d", groups)
	}
	if len(bills) != 4 || bills[1].Group != "b" {
		t.Errorf("WindowBills changed its input: %v", bills)
	}
}

// TestEnvironmentTimeSpreadsTheWaitOverTheInvocationsRunningTime: a leaf
// invocation that ran 55 ms on the machine's clock for a Duration of 10 ms
// waited 45 ms for a CPU over its whole running time, the host's work
// around its 11 ms span included: the span loses the wait's share of it
// (45/55), not all 45 ms (which left it nothing before).
func TestEnvironmentTimeSpreadsTheWaitOverTheInvocationsRunningTime(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const ms = time.Millisecond
	spans := []span.Span{{TraceID: "a", ID: 1, Task: "C", Group: "c", Start: t0, Duration: 11 * ms}}
	bills := []cost.Bill{{Group: "c", Trace: "a", Time: t0, Duration: 10 * ms, Wall: 55 * ms}}
	got := loop.EnvironmentTime(spans, bills)
	if want := 2 * ms; got[0].Duration != want {
		t.Errorf("span duration %v, want %v (11 ms × 10/55)", got[0].Duration, want)
	}
}
