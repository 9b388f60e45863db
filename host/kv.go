package host

import (
	"context"
	"sync"
)

// KV is the key-value store the host offers to tasks through the ABI's
// kv_get and kv_put imports. It stands in for the managed database a cloud
// task would use.
type KV interface {
	// Get returns the value of key; ok is false when key is absent. The
	// returned slice must not be modified by the caller.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Put stores a copy of val under key.
	Put(ctx context.Context, key string, val []byte) error
}

// MemKV is an in-memory KV, safe for concurrent use. It is not durable and not
// shared between hosts.
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
