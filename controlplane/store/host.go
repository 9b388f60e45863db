package store

import (
	"sort"
	"time"

	"github.com/fusionize/fusionize/api"
)

// SeeHost registers h or refreshes it; hosts are known by Name. The
// registry lives in memory (hosts re-register with every heartbeat) and
// serves health and status only, never routing. A zero LastSeen becomes now.
func (s *Store) SeeHost(h api.HostInfo) {
	if h.LastSeen.IsZero() {
		h.LastSeen = time.Now()
	}
	s.hostsMu.Lock()
	s.hosts[h.Name] = h
	s.hostsMu.Unlock()
}

// ForgetHost removes a host from the registry.
func (s *Store) ForgetHost(id string) {
	s.hostsMu.Lock()
	delete(s.hosts, id)
	s.hostsMu.Unlock()
}

// Hosts returns the hosts seen at or after since (all of them for a zero
// since), sorted by name.
func (s *Store) Hosts(since time.Time) []api.HostInfo {
	s.hostsMu.Lock()
	out := make([]api.HostInfo, 0, len(s.hosts))
	for _, h := range s.hosts {
		if !h.LastSeen.Before(since) {
			out = append(out, h)
		}
	}
	s.hostsMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ForgetHostAt removes host name from the registry if it is registered at
// address, and reports whether it was. A stopping host deregisters this way,
// so it never removes the entry of a newer host of the same name.
func (s *Store) ForgetHostAt(name, address string) bool {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	h, ok := s.hosts[name]
	if !ok || h.Address != address {
		return false
	}
	delete(s.hosts, name)
	return true
}
