package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var keyActive = []byte("active-setup-version")

// SetActiveVersion records the setup version whose groups serve client
// requests: the deployer sets it once every group of that version is
// healthy. It survives a restart.
func (s *Store) SetActiveVersion(v int64) error {
	if err := s.check(); err != nil {
		return err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return s.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keyActive, b[:]); err != nil {
			return fmt.Errorf("store: set active version: %w", err)
		}
		return nil
	})
}

// ActiveVersion returns the version set by SetActiveVersion, or 0.
func (s *Store) ActiveVersion() (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var v int64
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get(keyActive); len(b) == 8 {
			v = int64(binary.BigEndian.Uint64(b))
		}
		return nil
	})
	return v, err
}

var keyDeployFailure = []byte("deploy-failure")

// deployFailure is the record of SetDeployFailure.
type deployFailure struct {
	Version int64  `json:"version"`
	Error   string `json:"error"`
}

// SetDeployFailure records that setup version v failed to deploy and why
// (the deployer's error). Only the latest failure is kept; it survives a
// restart.
func (s *Store) SetDeployFailure(v int64, reason string) error {
	if err := s.check(); err != nil {
		return err
	}
	val, err := json.Marshal(deployFailure{Version: v, Error: reason})
	if err != nil {
		return fmt.Errorf("store: set deploy failure: %w", err)
	}
	return s.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keyDeployFailure, val); err != nil {
			return fmt.Errorf("store: set deploy failure: %w", err)
		}
		return nil
	})
}

// DeployFailure returns the version and reason of the latest
// SetDeployFailure, or 0 and "".
func (s *Store) DeployFailure() (int64, string, error) {
	if err := s.check(); err != nil {
		return 0, "", err
	}
	var f deployFailure
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get(keyDeployFailure); b != nil {
			return decodeJSON(b, &f, "deploy failure")
		}
		return nil
	})
	return f.Version, f.Error, err
}
