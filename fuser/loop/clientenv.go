package loop

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/invoke"
	"github.com/fusionize/fusionize/host"
)

// ClientEnv is the Env of a running control plane: it applies setups and
// records iterations over the control-plane API and drives requests at the
// active setup's hosts.
type ClientEnv struct {
	CP      *client.Client
	Invoker *invoke.Invoker
	Task    string // the entry task
	Input   []byte // the request body
	// Concurrency is the number of requests in flight; default 8.
	Concurrency int
	// Wait blocks until version v serves or failed to deploy. Default: poll
	// the control plane's active version for up to 3 minutes.
	Wait func(ctx context.Context, v int64) error
	// Timeout bounds one request; default 30 s.
	Timeout time.Duration

	// indexBase numbers this run's iterations after those the control
	// plane already holds (it refuses a duplicate index): a second loop
	// against the same control plane continues the history.
	indexBase   int
	indexBaseOK bool

	errMu    sync.Mutex
	firstErr error   // the first failed request's error of the last Drive
	timed    []timed // the last Drive's answered requests, as the client timed them
}

// timed is one answered request: the setup version that answered it.
type timed struct {
	version int64
	Timed
}

// Timed is one answered request as its client timed it: its trace and
// how long the client waited, from sending it to reading its answer.
type Timed struct {
	Trace string
	D     time.Duration
}

// Timer is an Env that timed its requests as its client saw them. That is
// the latency a user of the platform observes: it holds a cold start of
// the entry's execution environment, which the entry's span, starting once
// the environment is up, does not.
type Timer interface {
	// Timed returns each request of the last Drive that setup version v
	// answered, as the client timed it.
	Timed(v int64) []Timed
}

var _ Timer = (*ClientEnv)(nil)

// Timed implements Timer.
func (e *ClientEnv) Timed(v int64) []Timed {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	var out []Timed
	for _, t := range e.timed {
		if t.version == v {
			out = append(out, t.Timed)
		}
	}
	return out
}

// PlatformLatencies returns how long each timed request would have taken
// on the platform: what its client timed less the Stretch the platform
// reported for each invocation the request waited for (bills): its entry
// invocation, and every sync call to another group on the way, nested ones
// included; of sync calls a task made at overlapping times, only the
// largest stretch counts, as the caller waited for them side by side. A
// sync call made under an async one (a callee of a callee the request
// fired and forgot) runs after the answer and does not count. Where an
// invocation ran on after its answer (the host finishing its async work and
// flushing its spans before it asks for the next event: the bill's Wall
// is longer than the span the caller waited for), only the answer's share
// of its stretch counts. On an emulator the stretch is the time an
// environment waited for a physical CPU of the machine running it, which
// a cloud does not make its client wait; a real cloud reports none, and
// the latency stays as timed. Spans say which invocations a request
// waited for: an invocation is the k-th span of its group in the trace
// that starts an invocation (the entry, a remote sync call), and its bill
// the k-th of that group and trace by start time.
func PlatformLatencies(reqs []Timed, spans []span.Span, bills []cost.Bill) []time.Duration {
	billsOf := billsByInvocation(bills, func(b cost.Bill) bool { return !b.Async })
	invocations := map[string][]span.Span{} // per trace, the spans that started a sync invocation
	type ref struct {
		trace string
		id    uint64
	}
	byID := make(map[ref]*span.Span, len(spans))
	for i := range spans {
		sp := &spans[i]
		byID[ref{sp.TraceID, sp.ID}] = sp
		if sp.Caller == "" || (sp.Remote && !sp.Async) {
			invocations[sp.TraceID] = append(invocations[sp.TraceID], *sp)
		}
	}
	// waited says whether the request waited for sp: no async call on
	// its way up to the entry.
	waited := func(sp *span.Span) bool {
		for n := 0; n <= len(spans); n++ {
			if sp.Async {
				return false
			}
			if sp.Caller == "" || sp.ParentID == 0 {
				return true
			}
			p, ok := byID[ref{sp.TraceID, sp.ParentID}]
			if !ok {
				return true // the parent is not among the spans: count it
			}
			sp = p
		}
		return true
	}
	out := make([]time.Duration, len(reqs))
	for i, r := range reqs {
		out[i] = max(r.D-traceStretch(invocations[r.Trace], func(sp span.Span, k int) time.Duration {
			bs := billsOf[invocationKey{r.Trace, sp.Group}]
			if k >= len(bs) || !waited(&sp) {
				return 0
			}
			b := bs[k]
			if b.Wall > sp.Duration && sp.Duration > 0 {
				return time.Duration(float64(b.Stretch) * float64(sp.Duration) / float64(b.Wall))
			}
			return b.Stretch
		}), 0)
	}
	return out
}

// traceStretch sums the stretch of a trace's sync invocations (the entry
// first among them); stretchOf gives that of sp, the k-th invocation of
// its group. Calls from one caller span that overlap in time count their
// largest.
func traceStretch(invs []span.Span, stretchOf func(sp span.Span, k int) time.Duration) time.Duration {
	slices.SortStableFunc(invs, func(a, b span.Span) int { return a.Start.Compare(b.Start) })
	seen := map[string]int{}
	type run struct {
		end     time.Time
		stretch time.Duration
	}
	open := map[uint64]*run{} // per caller span, the latest run of overlapping calls
	var total time.Duration
	for _, sp := range invs {
		k := seen[sp.Group]
		seen[sp.Group]++
		st := stretchOf(sp, k)
		if sp.Caller == "" {
			total += st
			continue
		}
		end := sp.Start.Add(sp.Duration)
		if ru := open[sp.ParentID]; ru != nil && sp.Start.Before(ru.end) {
			if st > ru.stretch { // side by side with the run: only the largest counts
				total += st - ru.stretch
				ru.stretch = st
			}
			if end.After(ru.end) {
				ru.end = end
			}
			continue
		}
		open[sp.ParentID] = &run{end: end, stretch: st}
		total += st
	}
	return total
}

// invocationKey is a group's invocations in one trace.
type invocationKey struct{ trace, group string }

// billsByInvocation groups the bills that name a trace and that keep
// accepts by trace and group, each group's in the order they started.
func billsByInvocation(bills []cost.Bill, keep func(cost.Bill) bool) map[invocationKey][]cost.Bill {
	out := map[invocationKey][]cost.Bill{}
	for _, b := range bills {
		if b.Trace != "" && keep(b) {
			k := invocationKey{b.Trace, b.Group}
			out[k] = append(out[k], b)
		}
	}
	for _, bs := range out {
		slices.SortStableFunc(bs, func(a, b cost.Bill) int { return a.Time.Compare(b.Time) })
	}
	return out
}

// newTraceID returns a random W3C trace id: 32 lowercase hex digits, not
// all zero.
func newTraceID() string {
	for {
		hi, lo := rand.Uint64(), rand.Uint64()
		if hi|lo != 0 {
			return fmt.Sprintf("%016x%016x", hi, lo)
		}
	}
}

// Failer is an Env that can say why requests of its last window failed.
type Failer interface {
	// FirstFailure returns the first failed request's error of the last
	// Drive, nil when none failed.
	FirstFailure() error
}

var _ Failer = (*ClientEnv)(nil)

// FirstFailure implements Failer.
func (e *ClientEnv) FirstFailure() error {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.firstErr
}

var _ Env = (*ClientEnv)(nil)

// Apply implements Env.
func (e *ClientEnv) Apply(ctx context.Context, s *setup.Setup) (int64, error) {
	v, err := e.CP.ApplySetup(ctx, s)
	if err != nil {
		return 0, err
	}
	if e.Wait != nil {
		return v, e.Wait(ctx, v)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	return v, e.CP.WaitActive(wctx, v)
}

// Drive implements Env.
func (e *ClientEnv) Drive(ctx context.Context, n int, progress func(done, failed int)) (int, error) {
	conc := e.Concurrency
	if conc <= 0 {
		conc = 8
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var next, done, failed atomic.Int64
	var mu sync.Mutex
	e.errMu.Lock()
	e.firstErr, e.timed = nil, e.timed[:0]
	e.errMu.Unlock()
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if ctx.Err() != nil {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, timeout)
				// Each request names its trace, so the platform's record of
				// it can be found (PlatformLatencies).
				trace := newTraceID()
				began := time.Now()
				res, err := e.Invoker.Call(rctx, host.Call{Task: e.Task, Input: e.Input, TraceID: trace})
				took := time.Since(began)
				cancel()
				e.errMu.Lock()
				switch {
				case err == nil:
					e.timed = append(e.timed, timed{version: res.Version, Timed: Timed{Trace: trace, D: took}})
				case failed.Add(1) == 1:
					e.firstErr = err
				}
				e.errMu.Unlock()
				d := done.Add(1)
				mu.Lock()
				progress(int(d), int(failed.Load()))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return int(failed.Load()), ctx.Err()
}

// Spans implements Env.
func (e *ClientEnv) Spans(ctx context.Context, v int64) ([]span.Span, error) {
	return e.CP.AllSpans(ctx, v)
}

// Record implements Env. The first call reads the recorded history and
// numbers this run's iterations after it.
func (e *ClientEnv) Record(ctx context.Context, it api.Iteration) error {
	if !e.indexBaseOK {
		its, err := e.CP.Iterations(ctx)
		if err != nil {
			return err
		}
		for _, old := range its {
			e.indexBase = max(e.indexBase, old.Index+1)
		}
		e.indexBaseOK = true
	}
	it.Index += e.indexBase
	return e.CP.RecordIteration(ctx, it)
}

// EnvironmentTime returns spans with the machine's CPU waits taken out of
// their own time, as the platform reported them: for each invocation with
// a bill that says how much longer than its Duration it took on the
// machine's clock (Wall, emulators only), that difference is taken from
// the own time (Duration − Wait) of the invocation's spans in the share
// the wait took of the invocation's running time (its wall time less what
// it was blocked on remote sync callees), as only running work waits for
// a CPU and the host's work around the spans waits too. What a span loses,
// its sync callers lose too, from their wait and their duration (a caller
// blocked on it would have waited that much less; its own time stays):
// else the time a remote call costs, a caller's wait less its callees'
// durations, would grow by every wait taken out of the callees. Where a
// caller's sync callees overlapped (its wait is less than their summed
// durations), it loses their losses in the ratio of the two. An invocation
// is a span that starts one (the entry, a remote call) and the spans of
// its group in its trace that start after it; its bill is the k-th of that
// group and trace by start time. Spans with no such bill are returned as
// they are.
func EnvironmentTime(spans []span.Span, bills []cost.Bill) []span.Span {
	billsOf := billsByInvocation(bills, func(cost.Bill) bool { return true })
	if len(billsOf) == 0 {
		return spans
	}
	out := slices.Clone(spans)
	lost := make([]time.Duration, len(out)) // own time taken out, per span
	byGroup := map[invocationKey][]int{}    // indexes into out, by start
	remoteSync := map[string][]int{}        // by trace
	for i, sp := range out {
		k := invocationKey{sp.TraceID, sp.Group}
		byGroup[k] = append(byGroup[k], i)
		if sp.Remote && !sp.Async {
			remoteSync[sp.TraceID] = append(remoteSync[sp.TraceID], i)
		}
	}
	for k, idx := range byGroup {
		bs := billsOf[k]
		if len(bs) == 0 {
			continue
		}
		slices.SortStableFunc(idx, func(a, b int) int { return out[a].Start.Compare(out[b].Start) })
		// Runs of spans, each from a span that starts an invocation.
		var runs [][]int
		for _, i := range idx {
			if sp := out[i]; sp.Caller == "" || sp.Remote || len(runs) == 0 {
				runs = append(runs, nil)
			}
			runs[len(runs)-1] = append(runs[len(runs)-1], i)
		}
		for r, run := range runs {
			if r >= len(bs) {
				break
			}
			wait := bs[r].Wall - bs[r].Duration
			if bs[r].Wall <= 0 || wait <= 0 {
				continue
			}
			var own time.Duration
			for _, i := range run {
				own += max(out[i].Duration-out[i].Wait, 0)
			}
			if own <= 0 {
				continue
			}
			// The invocation ran for its wall time less what it spent
			// blocked on remote sync callees (on the machine's clock: the
			// callees' spans as recorded); the wait is spread over that
			// running time, of which the spans' own time is a part (the
			// host's work around the tasks is the rest).
			var blocked time.Duration
			for _, i := range remoteSync[k.trace] {
				if slices.ContainsFunc(run, func(j int) bool { return out[j].ID == spans[i].ParentID }) {
					blocked += spans[i].Duration
				}
			}
			running := max(bs[r].Wall-blocked, own)
			share := min(float64(wait)/float64(running), 1)
			for _, i := range run {
				lost[i] = time.Duration(share * float64(max(out[i].Duration-out[i].Wait, 0)))
			}
		}
	}
	passUp(out, lost)
	return out
}

// passUp takes lost[i] out of span i's duration and passes it up to its
// sync callers' waits and durations (see EnvironmentTime), callees first.
func passUp(out []span.Span, lost []time.Duration) {
	type ref struct {
		trace string
		id    uint64
	}
	at := make(map[ref]int, len(out))
	for i, sp := range out {
		at[ref{sp.TraceID, sp.ID}] = i
	}
	parent := make([]int, len(out))
	children := make([]time.Duration, len(out)) // summed durations of sync callees
	for i, sp := range out {
		parent[i] = -1
		if p, ok := at[ref{sp.TraceID, sp.ParentID}]; ok && sp.ParentID != 0 && p != i && !sp.Async {
			parent[i] = p
			children[p] += sp.Duration * time.Duration(sp.Calls())
		}
	}
	depth := make([]int, len(out))
	for i := range out {
		for p, n := parent[i], 0; p >= 0 && n < len(out); p, n = parent[p], n+1 {
			depth[i]++
		}
	}
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return depth[b] - depth[a] })
	passed := make([]time.Duration, len(out)) // from sync callees
	for _, i := range order {
		if passed[i] > 0 && children[i] > 0 {
			passed[i] = time.Duration(float64(passed[i]) * min(float64(out[i].Wait)/float64(children[i]), 1))
			passed[i] = min(passed[i], out[i].Wait)
		}
		total := lost[i] + passed[i]
		if total <= 0 {
			continue
		}
		out[i].Wait -= passed[i]
		out[i].Duration -= total
		if p := parent[i]; p >= 0 {
			passed[p] += total * time.Duration(out[i].Calls())
		}
	}
}
