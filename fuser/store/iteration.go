package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/fusionize/fusionize/host/setup"
	bolt "go.etcd.io/bbolt"
)

// Iteration is one step of the optimizer's feedback loop: the setup it
// deployed, what was measured and what it decided.
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

// AppendIteration records it after every earlier iteration.
func (s *Store) AppendIteration(it Iteration) error {
	val, err := json.Marshal(it)
	if err != nil {
		return fmt.Errorf("store: append iteration %d: %w", it.Index, err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIterations)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(u64(seq), val)
	})
	if err != nil {
		return fmt.Errorf("store: append iteration %d: %w", it.Index, err)
	}
	return nil
}

// Iterations returns every recorded iteration in the order appended.
func (s *Store) Iterations() ([]Iteration, error) {
	var out []Iteration
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIterations).ForEach(func(k, v []byte) error {
			var it Iteration
			if err := decodeJSON(v, &it, "iteration"); err != nil {
				return err
			}
			out = append(out, it)
			return nil
		})
	})
	return out, err
}
