package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/loop"
)

// registerWatch adds --watch and --prices.
func (f *loopFlags) registerWatch(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&f.watch, "watch", 0, "after the loop converges, keep serving and measuring the serving setup window after window for this long, "+
		"and re-place it (at most 2 deployments each time) when the --prices file changes or a window drifts significantly from the first "+
		"(e.g. a round trip between two places got slower); 0: stop at convergence. Ctrl-C ends the watch")
	cmd.Flags().StringVar(&f.prices, "prices", "", `JSON price list over the defaults, e.g. {"gcp":{"perGiBSecond":0.0000125,"perVCPUSecond":0.00012}}; `+
		"with --watch, edits of the file re-plan at once (a broken file is reported and the prices read before stay)")
}

// loadPrices reads --prices: nil, nil (the defaults) without one.
func (f *loopFlags) loadPrices() (*loop.PricesFile, *cost.Prices, error) {
	if f.prices == "" {
		return nil, nil, nil
	}
	pf, err := loop.LoadPrices(f.prices)
	if err != nil {
		return nil, nil, fmt.Errorf("--prices: %w", err)
	}
	p := pf.Prices()
	return pf, &p, nil
}

// watchServing watches the setup res ended on (loop.Watch) for lf.watch and
// adds what the watch did to res: its iterations, deployments and the
// setup serving at the end.
func watchServing(ctx context.Context, w io.Writer, env loop.Env, res *loop.Result, opts loop.Options, lf loopFlags, pf *loop.PricesFile) (loop.WatchResult, error) {
	what := "a window drifting from the first"
	if pf != nil {
		what = "a change of " + pf.Path() + " or " + what
	}
	fmt.Fprintf(w, "\nwatching %s for %s: re-placing on %s (Ctrl-C ends)\n", describeSetup(res.Best), lf.watch, what)
	prev := opts.Progress
	opts.Progress = func(e loop.Event) {
		switch e.Kind {
		case loop.EventWatched:
			fmt.Fprintf(w, "  watch    %s\n", e.Note)
		case loop.EventReplanning:
			fmt.Fprintf(w, "re-planning: %s\n", e.Note)
		default:
			prev(e)
		}
	}
	wres, err := loop.Watch(ctx, env, res.Best, opts, loop.WatchOptions{Duration: lf.watch, Prices: pf})
	for _, r := range wres.Replacements {
		res.Iterations = append(res.Iterations, r.Iterations...)
		res.Deployments += r.Deployments
	}
	if wres.Serving != nil {
		res.Best = wres.Serving
	}
	return wres, err
}

// printWatch says what the watch did: each re-placement with its reason
// and deployments, and the requests through it.
func printWatch(w io.Writer, wres loop.WatchResult) {
	fmt.Fprintf(w, "\nwatch: %d windows on the serving setup, %d re-placements, %d of %d requests failed\n",
		wres.Windows, len(wres.Replacements), wres.Failed, wres.Requests)
	for i, r := range wres.Replacements {
		moved := "kept " + describeSetup(r.From)
		if r.Moved() {
			moved = describeSetup(r.From) + " → " + describeSetup(r.To)
		}
		fmt.Fprintf(w, "  re-placement %d after %s: %s in %d deployments (%s)\n", i+1, shortReason(r.Reason), moved, r.Deployments, r.Verdict)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "    learned: %s\n", n)
		}
	}
}

// shortReason is a reason up to its details in parentheses.
func shortReason(s string) string {
	if i := strings.Index(s, " ("); i > 0 && strings.HasPrefix(s, "drift:") {
		return s[:i]
	}
	return s
}
