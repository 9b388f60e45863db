package store

import (
	"errors"
	"fmt"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Limits of the key-value store, those of the guest ABI (guest-sdk/ABI.md,
// "Limits"): a key of at most 1 KiB, a value of at most the default payload
// limit.
const (
	MaxKeySize   = 1 << 10
	MaxValueSize = 4 << 20
)

// ErrBadKey: a key-value request names no application, or its key is
// empty, longer than MaxKeySize or not UTF-8.
var ErrBadKey = errors.New("store: bad key")

// bucketKV holds one nested bucket per application: app → key → value.
var bucketKV = []byte("kv")

func checkKey(app, key string) error {
	switch {
	case app == "":
		return fmt.Errorf("%w: no application named", ErrBadKey)
	case key == "":
		return fmt.Errorf("%w: empty key (application %q)", ErrBadKey, app)
	case len(key) > MaxKeySize:
		return fmt.Errorf("%w: key %.32q… is %d bytes, limit %d (application %q)", ErrBadKey, key, len(key), MaxKeySize, app)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key %q is not UTF-8 (application %q)", ErrBadKey, key, app)
	}
	return nil
}

// GetValue returns the value of key in app's key-value store; ok is false
// when the key is absent. The value is a copy the caller may keep.
func (s *Store) GetValue(app, key string) (val []byte, ok bool, err error) {
	if err := checkKey(app, key); err != nil {
		return nil, false, err
	}
	err = s.run(s.kv.View, func(tx *bolt.Tx) error {
		kv := tx.Bucket(bucketKV)
		if kv == nil {
			return nil
		}
		b := kv.Bucket([]byte(app))
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(key)); v != nil {
			val, ok = append(make([]byte, 0, len(v)), v...), true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: get %q of application %q: %w", key, app, err)
	}
	return val, ok, nil
}

// PutValue stores val under key in app's key-value store: when PutValue
// returns nil the write is on disk (unless Options.NoSync), and a crash
// afterwards keeps it. Puts that arrive while another commits are
// committed together in the next transaction (group commit, writeKV), so
// concurrent writers share an fsync instead of queueing for one each.
func (s *Store) PutValue(app, key string, val []byte) error {
	if err := checkKey(app, key); err != nil {
		return err
	}
	if len(val) > MaxValueSize {
		return fmt.Errorf("%w: value of key %q is %d bytes, limit %d (application %q)", ErrTooLarge, key, len(val), MaxValueSize, app)
	}
	if err := s.check(); err != nil {
		return fmt.Errorf("store: put %q of application %q: %w", key, app, err)
	}
	p := &kvPut{app: app, key: key, val: val, done: make(chan error, 1)}
	select {
	case s.puts <- p:
	case <-s.closedCh:
		return fmt.Errorf("store: put %q of application %q: %w", key, app, ErrClosed)
	}
	if err := <-p.done; err != nil {
		return fmt.Errorf("store: put %q of application %q: %w", key, app, err)
	}
	return nil
}

// kvPut is one PutValue waiting for its transaction.
type kvPut struct {
	app, key string
	val      []byte
	done     chan error
}

// The most puts, and the most value bytes, one transaction takes.
const (
	maxPutBatch      = 256
	maxPutBatchBytes = 8 << 20
)

// writeKV commits the puts handed to it until the store closes. It waits
// for none: a put that arrives to an idle writer commits at once, alone;
// the puts that arrived meanwhile go into the next transaction together.
// A failed transaction of several puts is retried one put at a time, so
// that one put's failure is its own.
func (s *Store) writeKV() {
	defer close(s.kvDone)
	var batch []*kvPut
	for {
		select {
		case p := <-s.puts:
			batch = append(batch[:0], p)
		case <-s.closedCh:
			return
		}
		size := len(batch[0].val)
	more:
		for len(batch) < maxPutBatch && size < maxPutBatchBytes {
			select {
			case p := <-s.puts:
				batch = append(batch, p)
				size += len(p.val)
			default:
				break more
			}
		}
		err := s.commitPuts(batch)
		if err != nil && len(batch) > 1 {
			for _, p := range batch {
				p.done <- s.commitPuts([]*kvPut{p})
			}
		} else {
			for _, p := range batch {
				p.done <- err
			}
		}
		clear(batch)
	}
}

// commitPuts writes puts, in the order they arrived, in one transaction.
// The database is open: Close waits for writeKV before closing it.
func (s *Store) commitPuts(puts []*kvPut) error {
	err := s.kv.Update(func(tx *bolt.Tx) error {
		kv, err := tx.CreateBucketIfNotExists(bucketKV)
		if err != nil {
			return err
		}
		for _, p := range puts {
			b, err := kv.CreateBucketIfNotExists([]byte(p.app))
			if err != nil {
				return err
			}
			val := p.val
			if val == nil {
				val = []byte{} // bbolt stores an empty value; nil would read as absent
			}
			if err := b.Put([]byte(p.key), val); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.kvCommits.Add(1)
	}
	return err
}

// moveKV moves the key-value store of a data directory written before it
// had a database of its own (a "kv" bucket in DBFile) into KVFile: copied
// in one transaction, then deleted from DBFile in another. Interrupted
// between the two, the next Open copies it again over the same keys.
func (s *Store) moveKV() error {
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		old := tx.Bucket(bucketKV)
		if old == nil {
			return nil
		}
		found = true
		return s.kv.Update(func(ktx *bolt.Tx) error {
			kv, err := ktx.CreateBucketIfNotExists(bucketKV)
			if err != nil {
				return err
			}
			return old.ForEachBucket(func(app []byte) error {
				b, err := kv.CreateBucketIfNotExists(app)
				if err != nil {
					return err
				}
				return old.Bucket(app).ForEach(func(k, v []byte) error { return b.Put(k, v) })
			})
		})
	})
	if err == nil && found {
		err = s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketKV) })
	}
	if err != nil {
		return fmt.Errorf("store: move the key-value store into %s: %w", KVFile, err)
	}
	return nil
}
