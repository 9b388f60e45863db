package store

import (
	"sort"
	"time"
)

// HostInfo is what the control plane knows about a running host. The
// registry lives in memory: hosts re-register with every heartbeat.
type HostInfo struct {
	ID           string    // unique host id
	Addr         string    // where its transport listens
	Group        string    // fusion group it runs
	SetupVersion int64     // setup version it routes by
	LastSeen     time.Time // set by SeeHost when zero
}

// SeeHost registers h or refreshes it. A zero LastSeen becomes now.
func (s *Store) SeeHost(h HostInfo) {
	if h.LastSeen.IsZero() {
		h.LastSeen = time.Now()
	}
	s.hostsMu.Lock()
	s.hosts[h.ID] = h
	s.hostsMu.Unlock()
}

// ForgetHost removes a host from the registry.
func (s *Store) ForgetHost(id string) {
	s.hostsMu.Lock()
	delete(s.hosts, id)
	s.hostsMu.Unlock()
}

// Hosts returns the hosts seen at or after since (all of them for a zero
// since), sorted by ID.
func (s *Store) Hosts(since time.Time) []HostInfo {
	s.hostsMu.Lock()
	out := make([]HostInfo, 0, len(s.hosts))
	for _, h := range s.hosts {
		if !h.LastSeen.Before(since) {
			out = append(out, h)
		}
	}
	s.hostsMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
