package store

import (
	"encoding/json"
	"fmt"

	"github.com/fusionize/fusionize/api"
	bolt "go.etcd.io/bbolt"
)

// SetEndpoints records the endpoint of every group of setup version v, as
// the adapters that deployed them returned them. The deployer calls it
// before it makes v active, so that every route a host or client takes to
// v's groups comes from here. It refuses (ErrNotFound) a version that was
// never applied, and an endpoint that does not validate.
func (s *Store) SetEndpoints(v int64, eps api.Endpoints) error {
	if err := s.check(); err != nil {
		return err
	}
	for g, ep := range eps {
		if err := ep.Validate(); err != nil {
			return fmt.Errorf("store: endpoints of setup version %d: group %q: %w", v, g, err)
		}
	}
	val, err := json.Marshal(eps)
	if err != nil {
		return fmt.Errorf("store: endpoints of setup version %d: %w", v, err)
	}
	return s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSetups).Get(u64(uint64(v))) == nil {
			return fmt.Errorf("store: endpoints of setup version %d: %w", v, ErrNotFound)
		}
		return tx.Bucket(bucketEndpoints).Put(u64(uint64(v)), val)
	})
}

// Endpoints returns the endpoints recorded for setup version v: empty
// (and no error) until the deployer recorded them.
func (s *Store) Endpoints(v int64) (api.Endpoints, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	eps := api.Endpoints{}
	err := s.view(func(tx *bolt.Tx) error {
		val := tx.Bucket(bucketEndpoints).Get(u64(uint64(v)))
		if val == nil {
			return nil
		}
		return decodeJSON(val, &eps, "endpoints")
	})
	return eps, err
}
