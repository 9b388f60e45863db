package api

import (
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
