package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fusionize/fusionize/api/setup"
	bolt "go.etcd.io/bbolt"
)

// ApplySetup stores s as the next version (the current version plus one;
// s.Version is ignored and s is not modified), wakes every WatchSetup
// channel and returns the new version. s must pass s.Validate(nil).
func (s *Store) ApplySetup(su *setup.Setup) (int64, error) {
	if su == nil {
		return 0, errors.New("store: apply setup: nil setup")
	}
	if err := su.Validate(nil); err != nil {
		return 0, fmt.Errorf("store: apply setup: %w", err)
	}
	c := su.Clone()
	// Hold setupMu across the write so versions and notifications stay in
	// order; bbolt serialises writers anyway.
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	var version int64
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSetups)
		version = 1
		if k, _ := b.Cursor().Last(); k != nil {
			version = int64(binary.BigEndian.Uint64(k)) + 1
		}
		c.Version = version
		val, err := json.Marshal(c)
		if err != nil {
			return err
		}
		return b.Put(u64(uint64(version)), val)
	})
	if err != nil {
		return 0, fmt.Errorf("store: apply setup: %w", err)
	}
	s.current = version
	close(s.changed)
	s.changed = make(chan struct{})
	return version, nil
}

// Setup returns the setup with the given version; 0 means the current one.
// It returns ErrNotFound when there is no such version (or none at all).
func (s *Store) Setup(version int64) (*setup.Setup, error) {
	var out *setup.Setup
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSetups)
		var v []byte
		if version == 0 {
			_, v = b.Cursor().Last()
		} else if version > 0 {
			v = b.Get(u64(uint64(version)))
		}
		if v == nil {
			return fmt.Errorf("%w: setup version %d", ErrNotFound, version)
		}
		out = new(setup.Setup)
		return decodeJSON(v, out, fmt.Sprintf("setup version %d", version))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CurrentVersion returns the latest setup version, 0 if none was applied.
func (s *Store) CurrentVersion() (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	return s.current, nil
}

// Setups returns every applied setup, oldest first.
func (s *Store) Setups() ([]*setup.Setup, error) {
	var out []*setup.Setup
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSetups).ForEach(func(k, v []byte) error {
			su := new(setup.Setup)
			if err := decodeJSON(v, su, fmt.Sprintf("setup version %d", binary.BigEndian.Uint64(k))); err != nil {
				return err
			}
			out = append(out, su)
			return nil
		})
	})
	return out, err
}

// WatchSetup returns a channel that receives the current setup whenever its
// version is above the last one sent (starting from afterVersion). A slow
// receiver skips intermediate versions and gets the newest: routing only
// needs the latest. The channel is closed, and its goroutine ends, when ctx
// is done or the store is closed.
func (s *Store) WatchSetup(ctx context.Context, afterVersion int64) <-chan *setup.Setup {
	out := make(chan *setup.Setup)
	go func() {
		defer close(out)
		last := afterVersion
		for {
			s.setupMu.Lock()
			cur, changed := s.current, s.changed
			s.setupMu.Unlock()
			if cur > last {
				su, err := s.Setup(cur)
				if err != nil {
					return // closed (or corrupt: nothing sensible to send)
				}
				select {
				case out <- su:
					last = cur
				case <-ctx.Done():
					return
				case <-s.closedCh:
					return
				}
				continue
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			case <-s.closedCh:
				return
			}
		}
	}()
	return out
}
