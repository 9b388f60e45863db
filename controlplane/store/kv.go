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

// PutValue stores a copy of val under key in app's key-value store, in a
// transaction of its own: when PutValue returns nil the write is on disk
// (unless Options.NoSync), and a crash afterwards keeps it.
func (s *Store) PutValue(app, key string, val []byte) error {
	if err := checkKey(app, key); err != nil {
		return err
	}
	if len(val) > MaxValueSize {
		return fmt.Errorf("%w: value of key %q is %d bytes, limit %d (application %q)", ErrTooLarge, key, len(val), MaxValueSize, app)
	}
	err := s.run(s.kv.Update, func(tx *bolt.Tx) error {
		kv, err := tx.CreateBucketIfNotExists(bucketKV)
		if err != nil {
			return err
		}
		b, err := kv.CreateBucketIfNotExists([]byte(app))
		if err != nil {
			return err
		}
		if val == nil {
			val = []byte{} // bbolt stores an empty value; nil would read as absent
		}
		return b.Put([]byte(key), val)
	})
	if err != nil {
		return fmt.Errorf("store: put %q of application %q: %w", key, app, err)
	}
	return nil
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
