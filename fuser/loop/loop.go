// Package loop is the fuser's feedback loop: observe a window of requests on
// the deployed setup, let a strategy propose the next setup, deploy it with a
// live switch, observe again, and keep a setup only when it is better by a
// statistical test on the samples (Mann-Whitney U on per-request latency and
// per-request cost), rolling back when it is worse, or when it measured
// over the objective's latency bound where the best setup measured within
// it. Every iteration is recorded.
//
// Latency is what the client saw when the Env timed its requests (Timer:
// ClientEnv does), so a request that waited for a cold start of the
// entry's execution environment counts its init; otherwise it is the entry
// spans' durations. Cost is what the platforms billed when the Env has
// their reports (Biller), else the spans priced.
//
//	res, err := loop.Run(ctx, env, initial, loop.Options{App: app, Strategy: optimize.NewModel(cfg)})
//	for _, it := range res.Iterations { fmt.Println(it.Index, it.Decision, it.P50Ms) }
//
// Watch keeps measuring the setup Run converged on and re-places it when a
// prices file changes or a window drifts from the reference window (a round
// trip between two places got slower), each time within two deployments:
//
//	pf, err := loop.LoadPrices("prices.json")
//	w, err := loop.Watch(ctx, env, res.Best, opts, loop.WatchOptions{Prices: pf, Duration: time.Hour})
//	for _, r := range w.Replacements { fmt.Println(r.Reason, r.Deployments, r.Moved()) }
package loop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/optimize"
)

// Env is where the loop deploys and measures.
type Env interface {
	// Apply deploys s and returns its version once it serves. On error the
	// previous setup keeps serving.
	Apply(ctx context.Context, s *setup.Setup) (int64, error)
	// Drive sends n requests to the entry task of the active setup and
	// reports progress; it returns how many failed.
	Drive(ctx context.Context, n int, progress func(done, failed int)) (failed int, err error)
	// Spans returns the spans recorded for setup version v.
	Spans(ctx context.Context, v int64) ([]span.Span, error)
	// Record persists one iteration of the history.
	Record(ctx context.Context, it api.Iteration) error
}

// Biller is an Env that can read what the platforms reported for each
// invocation (Lambda's REPORT lines, Cloud Run's request logs). With it the
// loop prices a window from the platform's billed durations and the model
// learns memory footprints, cold starts and init times; without it cost
// comes from the spans' own billed durations.
type Biller interface {
	// Bills returns the reports of the invocations of s's groups that
	// started at or after since.
	Bills(ctx context.Context, s *setup.Setup, since time.Time) ([]cost.Bill, error)
}

// Queuer is an Env that can say how much accepted async work the platforms
// have not run yet (Lambda's queued Event invocations, the Cloud Tasks
// queues' tasks), as their metrics tell a client. With it a window settles
// only once that work has run, so that its spans and bills are whole: on a
// loaded machine a queued event can wait longer than the spans' quiet time.
type Queuer interface {
	Pending(ctx context.Context) (int, error)
}

// Options configure Run.
type Options struct {
	App      *manifest.App
	Strategy optimize.Strategy
	Prices   *cost.Prices // default cost.Default()

	Requests int // requests per observation window; default 120
	Warmup   int // requests before the window (cold starts); default 10
	// WarmupRounds bounds the further warm-up rounds of Warmup requests
	// each that the loop drives while the platforms (Biller) report a
	// cold start on the sync path (the entry or a sync call) in the last
	// round, so that the window measures the setup under steady load, not
	// its environments starting; default 4, negative for none.
	WarmupRounds  int
	MaxIterations int           // deployments after the initial one; default 15
	Alpha         float64       // significance level of the tests; default 0.05
	Settle        time.Duration // wait for the last spans to arrive; default 1.5 s

	// InitialVersion, if set, is the version of initial, already serving.
	InitialVersion int64
	// Budget, when positive, bounds the deployments of this run, rollbacks
	// included: a setup is proposed only while it and its rollback fit.
	Budget int
	// Reason is the first iteration's note (default "initial setup"): why
	// this run started, e.g. a watching loop's "prices changed: …".
	Reason string
	// Progress receives events for a user interface.
	Progress func(Event)
}

// EventKind says what the loop is doing.
type EventKind int

// Kinds of Event.
const (
	EventDeploying EventKind = iota // Setup is being deployed
	EventDriving                    // Done of Total requests sent
	EventObserved                   // Iteration was measured and decided
	EventConverged                  // the strategy has nothing left to change
)

// Event reports the loop's progress.
type Event struct {
	Kind        EventKind
	Setup       *setup.Setup
	Done, Total int
	Failed      int
	Iteration   *api.Iteration
	Note        string
}

// Result is the outcome of Run.
type Result struct {
	Iterations  []api.Iteration
	Best        *setup.Setup // the setup serving at the end
	Deployments int
	// Converged says the strategy had nothing left to change and the
	// serving setup meets the objective's latency bound, or no setup is
	// predicted to.
	Converged bool
	// BoundMet says the serving setup's last measurement meets the
	// objective's latency bound (true without a bound).
	BoundMet bool
	// Verdict says in one line how the loop ended.
	Verdict string
}

// observation is one measured window.
type observation struct {
	setup    *setup.Setup
	report   *analytics.Report
	latency  []float64 // ms per request
	costs    []float64 // $ per request
	p50, p95 time.Duration
	perM     float64
	score    float64
	failed   int
	firstErr error // the first failed request's error, when the Env says (Failer)
	billed   bool  // cost from the platform's reports
	// clientTimed says latency is what the client measured (Timer), not
	// the entry spans' durations.
	clientTimed bool
	edges       map[string][]float64 // overhead per remote sync call in ms, per edge (callOverheads)
}

func (o *Options) defaults() {
	if o.Prices == nil {
		p := cost.Default()
		o.Prices = &p
	}
	if o.Requests <= 0 {
		o.Requests = 120
	}
	if o.WarmupRounds == 0 {
		o.WarmupRounds = 4
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = 10
	}
	if o.MaxIterations <= 0 {
		o.MaxIterations = 15
	}
	if o.Alpha <= 0 {
		o.Alpha = 0.05
	}
	if o.Settle <= 0 {
		o.Settle = 1500 * time.Millisecond
	}
	if o.Progress == nil {
		o.Progress = func(Event) {}
	}
}

// Run runs the loop from initial until the strategy converges or
// MaxIterations deployments were made.
func Run(ctx context.Context, env Env, initial *setup.Setup, opts Options) (Result, error) {
	opts.defaults()
	if opts.App == nil || opts.Strategy == nil {
		return Result{}, errors.New("loop: Options.App and Options.Strategy are required")
	}
	app := optimize.AppOf(opts.App)
	var res Result
	cur := initial.Clone()
	if opts.InitialVersion > 0 {
		cur.Version = opts.InitialVersion
	} else {
		opts.Progress(Event{Kind: EventDeploying, Setup: cur})
		v, err := env.Apply(ctx, cur)
		if err != nil {
			return res, fmt.Errorf("loop: deploy the initial setup: %w", err)
		}
		cur.Version = v
		res.Deployments++
	}
	in := optimize.Input{App: app}
	tried := map[string]bool{optimize.Key(cur): true}
	var best *observation
	note := "initial setup"
	if opts.Reason != "" {
		note = opts.Reason
	}
	var predicted *api.Prediction // what the strategy predicted for cur
	for {
		obs, err := observe(ctx, env, cur, opts)
		if err != nil {
			return res, err
		}
		decision := api.DecisionBaseline
		rollback, why := false, ""
		if best != nil {
			decision, rollback, why = decide(opts.App.Objective, obs, best, opts.Alpha)
		}
		if best == nil || decision == api.DecisionKept || (decision == api.DecisionSame && obs.score <= best.score) {
			best = obs
		}
		it := api.Iteration{
			Index: len(res.Iterations), Setup: cur.Clone(),
			P50Ms: ms(obs.p50), P95Ms: ms(obs.p95), CostPerMillionUSD: obs.perM,
			Decision: decision, Note: note, DeployedAt: time.Now(), Predicted: predicted,
		}
		if why != "" {
			it.Note += "; " + why
		}
		if obs.failed > 0 {
			it.Note += fmt.Sprintf("; %d of %d requests failed", obs.failed, opts.Requests)
			if obs.firstErr != nil {
				it.Note += fmt.Sprintf(" (first: %v)", obs.firstErr)
			}
		}
		if !obs.billed {
			it.Note += "; cost from the spans (no platform reports)"
		}
		if missed, why := it.Missed(); missed {
			// The strategy refits from this measurement on its next
			// proposal and searches again.
			it.Note += "; missed: " + why + ", refit and search again"
		}
		curObs := obs
		if err := record(ctx, env, &res, it, opts); err != nil {
			return res, err
		}
		in.History = append(in.History, optimize.Observation{Iteration: it, Report: obs.report})
		in.Current, in.Report = cur, obs.report
		if rollback {
			back := best.setup.Clone()
			opts.Progress(Event{Kind: EventDeploying, Setup: back, Note: "rollback"})
			v, err := env.Apply(ctx, back)
			if err != nil {
				return res, fmt.Errorf("loop: roll back to setup version %d: %w", best.setup.Version, err)
			}
			res.Deployments++
			back.Version = v
			cur = back
			best.setup = back
			curObs = best
			in.Current, in.Report = back, best.report
			predicted = nil
			in.History = append(in.History, optimize.Observation{Iteration: api.Iteration{Setup: back, P50Ms: ms(best.p50), P95Ms: ms(best.p95), CostPerMillionUSD: best.perM, Decision: api.DecisionRestored}, Report: best.report})
		}

		// Propose, skipping setups already tried or failed.
		var next *setup.Setup
		for {
			overBudget := opts.Budget > 0 && res.Deployments+2 > opts.Budget
			if res.Deployments > opts.MaxIterations || overBudget {
				res.Best = cur
				res.BoundMet = meetsBound(opts.App.Objective, curObs)
				res.Verdict = fmt.Sprintf("stopped at the deployment limit (%d)", opts.MaxIterations)
				if overBudget {
					res.Verdict = fmt.Sprintf("stopped at the budget of %d deployments", opts.Budget)
				}
				if !res.BoundMet {
					res.Verdict += "; " + boundText(opts.App.Objective, curObs)
				}
				return res, nil
			}
			n, why, err := opts.Strategy.Propose(ctx, in)
			if err != nil {
				return res, fmt.Errorf("loop: %s: %w", opts.Strategy.Name(), err)
			}
			if why.Converged || tried[optimize.Key(n)] {
				res.Best = cur
				res.Converged, res.BoundMet, res.Verdict = verdict(opts.App.Objective, curObs, why, tried[optimize.Key(n)] && !why.Converged)
				opts.Progress(Event{Kind: EventConverged, Setup: cur, Note: why.Change + "; " + res.Verdict})
				return res, nil
			}
			tried[optimize.Key(n)] = true
			opts.Progress(Event{Kind: EventDeploying, Setup: n, Note: why.Change})
			v, err := env.Apply(ctx, n)
			res.Deployments++
			if err != nil {
				// The previous setup keeps serving; say so and ask again.
				failed := api.Iteration{Index: len(res.Iterations), Setup: n.Clone(), Decision: api.DecisionFailed,
					Note: fmt.Sprintf("%s; deploy failed, setup version %d kept serving: %v", why.Change, cur.Version, err), DeployedAt: time.Now()}
				if rerr := record(ctx, env, &res, failed, opts); rerr != nil {
					return res, rerr
				}
				in.History = append(in.History, optimize.Observation{Iteration: failed})
				continue
			}
			n.Version = v
			next = n
			note = why.Change
			predicted = why.Predicted.Record()
			break
		}
		cur = next
	}
}

// verdict decides how the loop ends when the strategy proposes nothing new
// (or only a setup already tried): converged, unless the serving setup
// breaks the objective's latency bound while the strategy still predicts
// that a candidate meets it.
func verdict(obj manifest.Objective, cur *observation, why optimize.Explanation, retried bool) (converged, boundMet bool, text string) {
	boundMet = meetsBound(obj, cur)
	switch {
	case boundMet:
		return true, true, "converged"
	case why.BoundUnmet:
		return true, false, "converged: no setup meets the bound; " + boundText(obj, cur) + ", and no candidate is predicted to meet it"
	case retried:
		return false, false, "not converged: " + boundText(obj, cur) + "; the strategy proposed a setup already measured"
	}
	return false, false, "not converged: " + boundText(obj, cur) + " although a candidate is predicted to meet it"
}

// meetsBound reports whether o's measurement meets the objective's latency
// bound (true without a bound).
func meetsBound(obj manifest.Objective, o *observation) bool {
	if obj.LatencyBoundMs <= 0 || o == nil {
		return true
	}
	return ms(boundLatency(obj, o)) <= obj.LatencyBoundMs
}

func boundLatency(obj manifest.Objective, o *observation) time.Duration {
	if obj.Latency == "p95" {
		return o.p95
	}
	return o.p50
}

func boundText(obj manifest.Objective, o *observation) string {
	return fmt.Sprintf("the serving setup measured %s %.1f ms, over the bound of %.0f ms", obj.Latency, ms(boundLatency(obj, o)), obj.LatencyBoundMs)
}

func record(ctx context.Context, env Env, res *Result, it api.Iteration, opts Options) error {
	if err := env.Record(ctx, it); err != nil {
		return fmt.Errorf("loop: record iteration %d: %w", it.Index, err)
	}
	res.Iterations = append(res.Iterations, it)
	opts.Progress(Event{Kind: EventObserved, Setup: it.Setup, Iteration: &res.Iterations[len(res.Iterations)-1]})
	return nil
}

// decide compares a new observation with the best so far; why says what
// made a rollback that the statistical tests alone would not have made.
//
// The objective's latency bound is a hard limit: a setup that measured over
// it does not go on serving in place of one that measured within it, even
// when the rank tests find no significant difference. Those tests compare
// whole distributions of a window, and a p95 bound is on the tail of five
// requests in a hundred, which they hardly see.
func decide(obj manifest.Objective, obs, best *observation, alpha float64) (decision string, rollback bool, why string) {
	pLat, lessLat := MannWhitney(obs.latency, best.latency)
	pCost, lessCost := MannWhitney(obs.costs, best.costs)
	latBetter, latWorse := pLat < alpha && lessLat > 0.5, pLat < alpha && lessLat < 0.5
	costBetter, costWorse := pCost < alpha && lessCost > 0.5, pCost < alpha && lessCost < 0.5
	switch {
	case obs.failed > best.failed:
		return api.DecisionRollback, true, ""
	case !meetsBound(obj, obs) && meetsBound(obj, best):
		return api.DecisionRollback, true, fmt.Sprintf("%s %.1f ms over the bound of %.0f ms, where the best setup (version %d) measured %.1f ms",
			obj.Latency, ms(boundLatency(obj, obs)), obj.LatencyBoundMs, best.setup.Version, ms(boundLatency(obj, best)))
	case obs.score < best.score && (latBetter || costBetter):
		return api.DecisionKept, false, ""
	case obs.score > best.score && (latWorse || costWorse):
		return api.DecisionRollback, true, ""
	default:
		return api.DecisionSame, false, ""
	}
}

// observe drives a window of requests on s and measures it.
func observe(ctx context.Context, env Env, s *setup.Setup, opts Options) (*observation, error) {
	if err := warmUp(ctx, env, s, opts); err != nil {
		return nil, err
	}
	start := time.Now()
	total := opts.Requests
	failed, err := env.Drive(ctx, total, func(done, failed int) {
		opts.Progress(Event{Kind: EventDriving, Setup: s, Done: done, Total: total, Failed: failed})
	})
	if err != nil {
		return nil, err
	}
	all, err := settle(ctx, env, s.Version, opts.Settle)
	if err != nil {
		return nil, err
	}
	// The window: requests whose entry span started after the warmup.
	inWindow := map[string]bool{}
	for _, sp := range all {
		if sp.Caller == "" && !sp.Start.Before(start) {
			inWindow[sp.TraceID] = true
		}
	}
	spans := slices.DeleteFunc(slices.Clone(all), func(sp span.Span) bool { return !inWindow[sp.TraceID] })
	var bills []cost.Bill
	b, billed := env.(Biller)
	if billed {
		if bills, err = b.Bills(ctx, s, start); err != nil {
			return nil, fmt.Errorf("loop: platform reports of setup version %d: %w", s.Version, err)
		}
		bills = WindowBills(bills, inWindow)
		spans = EnvironmentTime(spans, bills)
	}
	app := optimize.AppOf(opts.App)
	rep := analytics.Analyze(spans, analytics.Options{Tasks: app.Tasks, Setups: []*setup.Setup{s}})
	places := cost.PlacesOf(s)
	sum, err := opts.Prices.Summarize(spans, places)
	if err != nil {
		return nil, err
	}
	obs := &observation{setup: s, report: rep, perM: sum.PerMillion, failed: failed, edges: callOverheads(spans, s)}
	if f, ok := env.(Failer); ok && failed > 0 {
		obs.firstErr = f.FirstFailure()
	}
	scale := 1.0 // platform cost over span cost: per-request samples keep their spread, take the bill's level
	if billed {
		if len(bills) > 0 && sum.Requests > 0 {
			total, err := opts.Prices.PriceBills(bills)
			if err != nil {
				return nil, err
			}
			rep.AddBills(s, bills)
			rep.AddFirstCalls(spans, bills)
			obs.billed = true
			if sum.Total > 0 {
				scale = total / sum.Total
			}
			obs.perM = total / float64(sum.Requests) * 1e6
		}
	}
	byTrace := map[string][]span.Span{}
	for _, sp := range spans {
		byTrace[sp.TraceID] = append(byTrace[sp.TraceID], sp)
		if sp.Caller == "" {
			obs.latency = append(obs.latency, ms(sp.Duration))
		}
	}
	// Latency as the client saw it, when the Env timed its requests (a
	// cold start of the entry's environment included), less what an
	// emulator's machine added (PlatformLatencies); else the entry spans'
	// durations. The report's latency becomes the same, so that the
	// strategy learns the warm tail from what the client saw.
	if tm, ok := env.(Timer); ok {
		if reqs := tm.Timed(s.Version); len(reqs) > 0 {
			obs.latency, obs.clientTimed = obs.latency[:0], true
			lat := PlatformLatencies(reqs, all, bills)
			cold := coldTraces(all)
			var warm []time.Duration
			for i, d := range lat {
				obs.latency = append(obs.latency, ms(d))
				if !cold[reqs[i].Trace] {
					warm = append(warm, d)
				}
			}
			rep.SetLatency(s.Version, lat, warm)
		}
	}
	for _, ss := range byTrace {
		c, err := opts.Prices.Request(ss, places)
		if err != nil {
			return nil, err
		}
		obs.costs = append(obs.costs, c*scale)
	}
	if len(obs.latency) == 0 {
		return nil, fmt.Errorf("loop: no spans arrived for setup version %d", s.Version)
	}
	obs.p50, obs.p95 = percentile(obs.latency, 0.50), percentile(obs.latency, 0.95)
	lat := obs.p50
	if opts.App.Objective.Latency == "p95" {
		lat = obs.p95
	}
	obs.score = optimize.Score(opts.App.Objective, lat, obs.perM)
	return obs, nil
}

// coldTraces are the traces that met a cold start on their way to the
// answer (analytics.ColdOnTheWay).
func coldTraces(spans []span.Span) map[string]bool {
	cold := map[string]bool{}
	for _, sp := range spans {
		if analytics.ColdOnTheWay(&sp) {
			cold[sp.TraceID] = true
		}
	}
	return cold
}

// warmUp drives opts.Warmup requests, then, when env has the platforms'
// reports, further rounds of as many while the last round met a cold start
// on the sync path, at most opts.WarmupRounds of them, and waits for the
// async work they queued (drain): with one request
// per execution environment, a new setup keeps starting environments until
// it has as many as its load keeps busy (more than the requests in flight
// when environments stay taken after the answer: in-memory async work,
// spans flushed before the next event).
func warmUp(ctx context.Context, env Env, s *setup.Setup, opts Options) error {
	if opts.Warmup <= 0 {
		return nil
	}
	b, billed := env.(Biller)
	for round := 0; ; round++ {
		began := time.Now()
		if _, err := env.Drive(ctx, opts.Warmup, func(int, int) {}); err != nil {
			return err
		}
		if !billed || round >= opts.WarmupRounds {
			return drain(ctx, env)
		}
		bills, err := b.Bills(ctx, s, began)
		if err != nil {
			return fmt.Errorf("loop: platform reports of setup version %d: %w", s.Version, err)
		}
		if !slices.ContainsFunc(bills, func(b cost.Bill) bool { return b.Cold && !b.Async }) {
			return drain(ctx, env)
		}
	}
}

// WindowBills keeps the bills of the window's requests: those whose
// trace is one of window's, and those the platform recorded no trace for.
// A platform reports by time, and the async work of the requests before a
// window (the warm-up's) can run inside it: counted, it would bill the
// window's requests for more invocations than they made.
func WindowBills(bills []cost.Bill, window map[string]bool) []cost.Bill {
	return slices.DeleteFunc(slices.Clone(bills), func(b cost.Bill) bool { return b.Trace != "" && !window[b.Trace] })
}

// drain waits, when env is a Queuer, until the async work the warm-up
// queued has run (at most 2 minutes), so that none of it starts in the
// window and is billed to the window's requests.
func drain(ctx context.Context, env Env) error {
	q, ok := env.(Queuer)
	if !ok {
		return nil
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, err := q.Pending(ctx)
		if err != nil {
			return fmt.Errorf("loop: queued async work: %w", err)
		}
		if n == 0 || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// settle waits until the spans of version v stop arriving: hosts report in
// batches every 200 ms, and async calls finish after the requests that
// started them. It waits at least min, then until the count has not changed
// for 1.5 s (three reads half a second apart) and, when env is a Queuer, no
// accepted async work is left; at most 30 s for the spans, 2 min while async
// work is still queued.
func settle(ctx context.Context, env Env, v int64, min time.Duration) ([]span.Span, error) {
	begin := time.Now()
	quiet, queued := begin.Add(30*time.Second), begin.Add(2*time.Minute)
	q, _ := env.(Queuer)
	wait := min
	prev, same := -1, 0
	for {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		all, err := env.Spans(ctx, v)
		if err != nil {
			return nil, err
		}
		if len(all) == prev {
			same++
		} else {
			same = 0
		}
		now := time.Now()
		if same >= 3 || now.After(quiet) {
			pending := 0
			if q != nil {
				if pending, err = q.Pending(ctx); err != nil {
					return nil, fmt.Errorf("loop: queued async work: %w", err)
				}
			}
			if pending == 0 || now.After(queued) {
				return all, nil
			}
		}
		prev = len(all)
		wait = 500 * time.Millisecond
	}
}

// percentile is the q-quantile of ms (milliseconds) as a duration.
func percentile(ms []float64, q float64) time.Duration {
	return time.Duration(quantile(ms, q) * float64(time.Millisecond))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
