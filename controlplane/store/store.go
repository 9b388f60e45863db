package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusionize/fusionize/api"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DBFile is the name of the database file inside the data directory.
const DBFile = "fusionize.db"

// KVFile is the name of the tasks' key-value database inside the data
// directory: a database of its own, so that a task's write waits for no
// span batch's commit (see doc.go).
const KVFile = "kv.db"

// DefaultMaxSpans is the default span retention limit.
const DefaultMaxSpans = 5_000_000

// DefaultLockTimeout is how long Open waits for the database file lock.
const DefaultLockTimeout = time.Second

var (
	bucketSetups     = []byte("setups")
	bucketModules    = []byte("modules")
	bucketTasks      = []byte("tasks")
	bucketSpans      = []byte("spans")
	bucketIterations = []byte("iterations")
	bucketMeta       = []byte("meta")
	bucketEndpoints  = []byte("endpoints")

	keySpanCount = []byte("spanCount")
)

// Options tune a Store. The zero value gives the defaults.
type Options struct {
	// MaxSpans bounds the number of stored spans; when an append goes over
	// it, the oldest spans (lowest setup version, then earliest start) are
	// deleted in the same transaction. 0 means DefaultMaxSpans.
	MaxSpans int64
	// LockTimeout is how long Open waits for another holder of the database
	// file lock before it fails with ErrLocked. 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// NoSync skips fsync on commit. Only for tests and benchmarks: a crash
	// can lose or corrupt the database.
	NoSync bool
}

// Store is the control plane's durable state under one data directory. It is
// safe for concurrent use. Only one Store (in any process) may have a data
// directory open at a time.
type Store struct {
	dir      string
	modDir   string
	db       *bolt.DB
	kv       *bolt.DB // the tasks' key-value store (KVFile)
	maxSpans int64

	// puts hands each PutValue to writeKV, which commits every put that
	// arrived while its last transaction committed in one (kv.go);
	// kvDone is closed when writeKV has returned.
	puts      chan *kvPut
	kvDone    chan struct{}
	kvCommits atomic.Int64 // transactions writeKV committed

	closed   atomic.Bool
	closedCh chan struct{}

	// setup broadcast: changed is closed and replaced on every apply.
	setupMu sync.Mutex
	current int64
	changed chan struct{}

	tokenMu sync.Mutex

	hostsMu sync.Mutex
	hosts   map[string]api.HostInfo
}

// Open opens (creating if needed) the store in dir with default Options.
func Open(dir string) (*Store, error) { return OpenWith(dir, Options{}) }

// OpenWith opens (creating if needed) the store in dir. dir is created with
// mode 0700. If another process holds the database, OpenWith waits up to
// opts.LockTimeout and then fails with ErrLocked naming the file.
func OpenWith(dir string, opts Options) (*Store, error) {
	if opts.MaxSpans <= 0 {
		opts.MaxSpans = DefaultMaxSpans
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	db, err := openDB(filepath.Join(dir, DBFile), opts)
	if err != nil {
		return nil, err
	}
	kv, err := openDB(filepath.Join(dir, KVFile), opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{
		dir:      dir,
		modDir:   filepath.Join(dir, "modules", "sha256"),
		db:       db,
		kv:       kv,
		maxSpans: opts.MaxSpans,
		closedCh: make(chan struct{}),
		changed:  make(chan struct{}),
		puts:     make(chan *kvPut),
		kvDone:   make(chan struct{}),
		hosts:    make(map[string]api.HostInfo),
	}
	if err := s.init(); err != nil {
		db.Close()
		kv.Close()
		return nil, err
	}
	go s.writeKV()
	return s, nil
}

// openDB opens the bbolt database at path, waiting opts.LockTimeout for
// another holder of its file lock.
func openDB(path string, opts Options) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is held by another process (waited %s)", ErrLocked, path, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

func (s *Store) init() error {
	if err := os.MkdirAll(s.modDir, 0o700); err != nil {
		return fmt.Errorf("store: create module directory: %w", err)
	}
	// We hold the database lock, so any temp file left in the module
	// directory is from a crashed upload.
	ents, err := os.ReadDir(s.modDir)
	if err != nil {
		return fmt.Errorf("store: read module directory: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			os.Remove(filepath.Join(s.modDir, e.Name()))
		}
	}
	if err := s.moveKV(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSetups, bucketModules, bucketTasks, bucketSpans, bucketIterations, bucketMeta, bucketEndpoints} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("store: create bucket %s: %w", b, err)
			}
		}
		if k, _ := tx.Bucket(bucketSetups).Cursor().Last(); k != nil {
			s.current = int64(binary.BigEndian.Uint64(k))
		}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keySpanCount) == nil {
			n := tx.Bucket(bucketSpans).Stats().KeyN
			return meta.Put(keySpanCount, binary.BigEndian.AppendUint64(nil, uint64(n)))
		}
		return nil
	})
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Close closes the database and ends every WatchSetup channel. In-flight
// calls finish first. Close is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.closedCh)
	err := s.db.Close()
	<-s.kvDone // the puts handed over are committed
	if kerr := s.kv.Close(); err == nil {
		err = kerr
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// view and update run fn in a read or write transaction, returning
// ErrClosed when the store is closed.
func (s *Store) view(fn func(*bolt.Tx) error) error { return s.run(s.db.View, fn) }

func (s *Store) update(fn func(*bolt.Tx) error) error { return s.run(s.db.Update, fn) }

// run runs fn in a transaction of txn (a database's View or Update).
func (s *Store) run(txn func(func(*bolt.Tx) error) error, fn func(*bolt.Tx) error) error {
	if err := s.check(); err != nil {
		return err
	}
	err := txn(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }
