package loop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/optimize"
)

// Kinds of Event that Watch reports.
const (
	// EventWatched: a window of the serving setup was measured; Note says
	// whether it drifted from the reference window.
	EventWatched EventKind = EventConverged + 1 + iota
	// EventReplanning: the watch starts a search from the serving setup;
	// Note is the reason.
	EventReplanning
)

// WatchOptions configure Watch.
type WatchOptions struct {
	// Duration bounds the watch; 0 watches until ctx ends.
	Duration time.Duration
	// Prices, when set, is re-read before every window: a change replaces
	// Options.Prices and re-plans at once, without waiting for a
	// measurement to drift. A file that became unreadable or invalid is
	// reported (EventWatched, Note) and the prices read before stay.
	Prices *PricesFile
	// MaxDeployments bounds the deployments of each re-placement,
	// rollbacks included (Options.Budget); default 2: one new setup, and
	// its rollback if it measures worse. A re-placement that stops at its
	// budget before the strategy converged is continued by the next one.
	MaxDeployments int
	// Replacements, when positive, ends the watch after that many
	// re-placements.
	Replacements int
	// MinChange is how far a signal's median must move to count as drift
	// (besides the Mann-Whitney test at Options.Alpha): by the factor
	// 1+MinChange up or down from the reference window; default 1 (doubled
	// or halved: a loaded machine or a busy platform moves medians by tens
	// of percent without anything having changed).
	MinChange float64
}

// Replacement is one re-planning of a watch.
type Replacement struct {
	Reason      string       // "prices changed: …", "drift: …"
	From, To    *setup.Setup // serving before and after
	Deployments int
	Iterations  []api.Iteration
	Verdict     string
	Converged   bool // the strategy had nothing left to change
	// Requests the re-placement's windows drove through its switches, and
	// how many failed.
	Requests, Failed int
	Notes            []string // what the strategy learned for it (Replanner)
}

// Moved says whether the replacement left another setup serving.
func (r Replacement) Moved() bool {
	return r.From != nil && r.To != nil && optimize.Key(r.From) != optimize.Key(r.To)
}

// WatchResult is the outcome of Watch.
type WatchResult struct {
	Windows      int // windows measured on the serving setup
	Requests     int // every request the watch drove, re-placements' included
	Failed       int // of Requests
	Replacements []Replacement
	Serving      *setup.Setup // the setup serving at the end
}

// Watch keeps measuring the serving setup (deployed, with its version set)
// window after window and re-plans when the world changes: when the prices
// file changes (the user's input: the strategy re-ranks its candidates with
// the new prices) or when a window drifts significantly from the reference
// window (see detectDrift: request latency, request cost, or the overhead of
// the remote calls over one edge, as when a round trip between two places
// got slower; a cloud does not say so, the measurement does). A re-plan is
// a Run from the serving setup (Options.InitialVersion) with the reason as
// its first iteration's note, at most WatchOptions.MaxDeployments
// deployments with live switches, recorded in the history like any other
// iteration. A Replanner strategy is first given the new prices and the
// window's report (the model learns round trips from it) and plans every
// later re-placement with what it learned. A re-placement that used its
// budget while the strategy still had changes to make is continued by the
// next one ("continued: …"); otherwise the window after a re-plan is the new
// reference.
//
// Watch returns when WatchOptions.Duration has passed (checked between
// windows), after WatchOptions.Replacements re-placements, or when ctx
// ends, which is not an error.
func Watch(ctx context.Context, env Env, serving *setup.Setup, opts Options, w WatchOptions) (res WatchResult, err error) {
	opts.defaults()
	if opts.App == nil || opts.Strategy == nil {
		return WatchResult{}, errors.New("loop: Options.App and Options.Strategy are required")
	}
	if serving == nil || serving.Version <= 0 {
		return WatchResult{}, errors.New("loop: watch needs the serving setup with its version")
	}
	if w.MaxDeployments <= 0 {
		w.MaxDeployments = 2
	}
	if w.MinChange <= 0 {
		w.MinChange = 1
	}
	if w.Prices != nil {
		p := w.Prices.Prices()
		opts.Prices = &p
	}
	counted := &countingEnv{Env: env}
	res.Serving = serving.Clone()
	defer func() { res.Requests, res.Failed = counted.requests, counted.failed }()
	var deadline time.Time
	if w.Duration > 0 {
		deadline = time.Now().Add(w.Duration)
	}
	var ref *observation
	var unfinished *Replacement // the last re-placement, stopped at its budget
	for ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)) {
		var reason string
		var measured *analytics.Report
		if unfinished != nil {
			reason = "continued: " + strings.TrimPrefix(unfinished.Reason, "continued: ")
		}
		if w.Prices != nil {
			change, err := w.Prices.Reload()
			switch {
			case err != nil:
				opts.Progress(Event{Kind: EventWatched, Setup: res.Serving, Note: err.Error() + "; the prices read before stay"})
			case change != "":
				p := w.Prices.Prices()
				opts.Prices = &p
				reason = "prices changed: " + change
				if ref != nil {
					measured = ref.report
				}
			}
		}
		if reason == "" {
			obs, err := observe(ctx, counted, res.Serving, opts)
			if err != nil {
				if ctx.Err() != nil {
					return res, nil
				}
				return res, err
			}
			res.Windows++
			if ref == nil {
				ref = obs
				opts.Progress(Event{Kind: EventWatched, Setup: res.Serving, Failed: obs.failed, Note: fmt.Sprintf("reference window: p50 %.1f ms, p95 %.1f ms, $%.2f/M", ms(obs.p50), ms(obs.p95), obs.perM)})
				continue
			}
			d, drifted := detectDrift(ref, obs, opts.Alpha, w.MinChange)
			if !drifted {
				opts.Progress(Event{Kind: EventWatched, Setup: res.Serving, Failed: obs.failed, Note: fmt.Sprintf("steady: p50 %.1f ms, p95 %.1f ms, $%.2f/M", ms(obs.p50), ms(obs.p95), obs.perM)})
				continue
			}
			reason, measured = d.String(), obs.report
		}
		sent, failed := counted.requests, counted.failed
		rep, strat, err := replan(ctx, counted, res.Serving, opts, w, reason, measured)
		rep.Requests, rep.Failed = counted.requests-sent, counted.failed-failed
		if err != nil {
			if ctx.Err() != nil {
				return res, nil
			}
			return res, err
		}
		res.Replacements = append(res.Replacements, rep)
		res.Serving = rep.To
		opts.Strategy = strat // what it learned stays learned
		ref = nil
		unfinished = nil
		if !rep.Converged && rep.Moved() {
			unfinished = &res.Replacements[len(res.Replacements)-1]
		}
		if w.Replacements > 0 && len(res.Replacements) >= w.Replacements {
			break
		}
	}
	return res, nil
}

// replan runs the loop from the serving setup for reason.
func replan(ctx context.Context, env Env, serving *setup.Setup, opts Options, w WatchOptions, reason string, measured *analytics.Report) (Replacement, optimize.Strategy, error) {
	rep := Replacement{Reason: reason, From: serving.Clone()}
	opts.Progress(Event{Kind: EventReplanning, Setup: serving, Note: reason})
	strat := opts.Strategy
	if r, ok := strat.(optimize.Replanner); ok {
		strat, rep.Notes = r.Replan(*opts.Prices, measured)
	}
	ro := opts
	ro.Strategy, ro.Reason, ro.InitialVersion, ro.Budget = strat, reason, serving.Version, w.MaxDeployments
	res, err := Run(ctx, env, serving, ro)
	rep.Iterations, rep.Deployments, rep.Verdict, rep.Converged = res.Iterations, res.Deployments, res.Verdict, res.Converged
	if err != nil {
		return rep, strat, fmt.Errorf("loop: re-plan (%s): %w", reason, err)
	}
	rep.To = res.Best.Clone()
	return rep, strat, nil
}

// countingEnv counts the requests driven through it and how many failed
// (windows cut short by the end of ctx are not counted).
type countingEnv struct {
	Env
	requests, failed int
}

func (c *countingEnv) Drive(ctx context.Context, n int, progress func(done, failed int)) (int, error) {
	failed, err := c.Env.Drive(ctx, n, progress)
	if err == nil {
		c.requests += n
		c.failed += failed
	}
	return failed, err
}

func (c *countingEnv) Bills(ctx context.Context, s *setup.Setup, since time.Time) ([]cost.Bill, error) {
	return bills(ctx, c.Env, s, since)
}

func (c *countingEnv) Spans(ctx context.Context, v int64) ([]span.Span, error) {
	return c.Env.Spans(ctx, v)
}

// bills forwards to env's Biller; nil without one (cost from the spans).
func bills(ctx context.Context, env Env, s *setup.Setup, since time.Time) ([]cost.Bill, error) {
	if b, ok := env.(Biller); ok {
		return b.Bills(ctx, s, since)
	}
	return nil, nil
}
