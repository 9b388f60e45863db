package api

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api/setup"
)

// Iteration is one step of the optimizer's feedback loop: the setup it
// deployed, what was measured and what it decided. The control plane keeps
// the history; the optimizer reads it.
type Iteration struct {
	Index             int          `json:"index"`
	Setup             *setup.Setup `json:"setup,omitempty"`
	P50Ms             float64      `json:"p50Ms"`
	P95Ms             float64      `json:"p95Ms"`
	CostPerMillionUSD float64      `json:"costPerMillionUSD"`
	Decision          string       `json:"decision"` // one of the Decision constants
	Note              string       `json:"note,omitempty"`
	DeployedAt        time.Time    `json:"deployedAt"`
	// Predicted is what the strategy predicted for Setup before it was
	// deployed; nil when it predicted nothing (the baseline, the paper's
	// heuristic, a rollback).
	Predicted *Prediction `json:"predicted,omitempty"`
}

// Prediction is a strategy's forecast for a setup, recorded beside what was
// then measured.
type Prediction struct {
	P50Ms             float64 `json:"p50Ms"`
	P95Ms             float64 `json:"p95Ms"`
	CostPerMillionUSD float64 `json:"costPerMillionUSD"`
	// Confidence is the model's own relative half-width: a measurement
	// within Confidence × the prediction (0.2 = ±20%) agrees with it.
	Confidence float64 `json:"confidence"`
}

// ErrorPct returns the measurement's error against the prediction in
// percent, (measured − predicted) / predicted × 100, and false when there is
// nothing to compare (no prediction, or a zero one).
func ErrorPct(predicted, measured float64) (float64, bool) {
	if predicted <= 0 || measured <= 0 {
		return 0, false
	}
	return (measured - predicted) / predicted * 100, true
}

// Missed reports whether the iteration's measurement falls outside its
// prediction's confidence on median latency, 95th percentile or cost, and
// says which figure missed by how much.
func (it *Iteration) Missed() (bool, string) {
	p := it.Predicted
	if p == nil || !it.Measured() {
		return false, ""
	}
	var out []string
	for _, f := range []struct {
		name     string
		pre, mea float64
	}{{"p50", p.P50Ms, it.P50Ms}, {"p95", p.P95Ms, it.P95Ms}, {"cost", p.CostPerMillionUSD, it.CostPerMillionUSD}} {
		if e, ok := ErrorPct(f.pre, f.mea); ok && math.Abs(e) > p.Confidence*100 {
			out = append(out, fmt.Sprintf("%s %+.0f%%", f.name, e))
		}
	}
	if len(out) == 0 {
		return false, ""
	}
	return true, fmt.Sprintf("%s off the prediction (confidence ±%.0f%%)", strings.Join(out, ", "), p.Confidence*100)
}

// Decisions the feedback loop records for an iteration.
const (
	DecisionBaseline = "baseline"                         // the first measured setup
	DecisionKept     = "kept"                             // better by a statistical test
	DecisionSame     = "kept (no significant difference)" // neither better nor worse by the tests
	DecisionRollback = "rolled-back"                      // worse: the best setup was redeployed
	DecisionFailed   = "failed"                           // the deployment failed; the previous setup kept serving
	DecisionRestored = "restored"                         // the best setup, redeployed by a rollback
)

// Measured reports whether the iteration's setup served and was measured.
func (it *Iteration) Measured() bool { return it.Decision != DecisionFailed && it.P50Ms > 0 }

// Kept reports whether the loop kept the iteration's setup.
func (it *Iteration) Kept() bool {
	return it.Decision == DecisionBaseline || it.Decision == DecisionKept || it.Decision == DecisionSame
}

// P50 returns the measured median as a duration.
func (it *Iteration) P50() time.Duration { return time.Duration(it.P50Ms * 1e6) }

// P95 returns the measured 95th percentile as a duration.
func (it *Iteration) P95() time.Duration { return time.Duration(it.P95Ms * 1e6) }

// Decisions lists every Decision constant, in the order the loop uses them.
var Decisions = []string{DecisionBaseline, DecisionKept, DecisionSame, DecisionRollback, DecisionFailed, DecisionRestored}

// ErrBadIteration is wrapped by every error of Iteration.Validate.
var ErrBadIteration = errors.New("bad iteration")

// Validate reports everything wrong with it at once: an unknown decision,
// a negative index, a negative or non-finite latency or cost, and a setup
// that does not validate.
func (it *Iteration) Validate() error {
	var bad []string
	if !slices.Contains(Decisions, it.Decision) {
		bad = append(bad, fmt.Sprintf("unknown decision %q (want one of %q)", it.Decision, Decisions))
	}
	if it.Index < 0 {
		bad = append(bad, fmt.Sprintf("negative index %d", it.Index))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"p50Ms", it.P50Ms}, {"p95Ms", it.P95Ms}, {"costPerMillionUSD", it.CostPerMillionUSD}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			bad = append(bad, fmt.Sprintf("%s is %v, want a finite number >= 0", f.name, f.v))
		}
	}
	if p := it.Predicted; p != nil {
		for _, f := range []struct {
			name string
			v    float64
		}{{"predicted.p50Ms", p.P50Ms}, {"predicted.p95Ms", p.P95Ms}, {"predicted.costPerMillionUSD", p.CostPerMillionUSD}, {"predicted.confidence", p.Confidence}} {
			if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
				bad = append(bad, fmt.Sprintf("%s is %v, want a finite number >= 0", f.name, f.v))
			}
		}
	}
	if it.Setup != nil {
		if err := it.Setup.Validate(nil); err != nil {
			bad = append(bad, "setup: "+err.Error())
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w %d: %s", ErrBadIteration, it.Index, strings.Join(bad, "; "))
	}
	return nil
}
