package host

import (
	"context"
	"sync"
)

// KV is the key-value store of one application that the host offers to
// its tasks through the ABI's kv_get and kv_put imports; keys are the
// guest's own (1 to 1024 bytes). It stands in for the managed database a
// cloud task would use.
//
// Two implementations exist: MemKV here, in memory, for `fusionize run`
// and tests; and the control plane's durable store of the app
// (runtime.ControlPlaneKV), which every runtime uses when it has a control
// plane, so that every host of every setup version sees the same keys and
// they outlive hosts and live switches. Another database can implement KV
// the same way.
//
// Contract: Put returns nil only once the value is stored where every later
// Get, on any host sharing the store, sees it; nothing may be buffered or
// cached in a way that could lose an acknowledged write. Errors reach the
// guest as CodeInternal with their message.
type KV interface {
	// Get returns the value of key; ok is false when key is absent. The
	// returned slice must not be modified by the caller.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Put stores a copy of val under key.
	Put(ctx context.Context, key string, val []byte) error
}

// MemKV is an in-memory KV, safe for concurrent use. It is not durable and
// not shared between processes.
type MemKV struct {
	mu sync.RWMutex
	m  map[string][]byte
}

// NewMemKV returns an empty MemKV.
func NewMemKV() *MemKV { return &MemKV{m: make(map[string][]byte)} }

// Get implements KV.
func (s *MemKV) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.RLock()
	v, ok := s.m[key]
	s.mu.RUnlock()
	return v, ok, nil
}

// Put implements KV.
func (s *MemKV) Put(_ context.Context, key string, val []byte) error {
	c := append([]byte(nil), val...)
	s.mu.Lock()
	s.m[key] = c
	s.mu.Unlock()
	return nil
}
