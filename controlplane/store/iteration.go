package store

import (
	"encoding/json"
	"fmt"

	"github.com/fusionize/fusionize/api"

	bolt "go.etcd.io/bbolt"
)

// AppendIteration records it after every earlier iteration.
func (s *Store) AppendIteration(it api.Iteration) error {
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
func (s *Store) Iterations() ([]api.Iteration, error) {
	var out []api.Iteration
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIterations).ForEach(func(k, v []byte) error {
			var it api.Iteration
			if err := decodeJSON(v, &it, "iteration"); err != nil {
				return err
			}
			out = append(out, it)
			return nil
		})
	})
	return out, err
}
