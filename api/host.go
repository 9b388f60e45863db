package api

import "time"

// HostInfo is a running host as it registers with the control plane by
// heartbeat. The registry is for health and status only: routes come from
// the Endpoints the deployer recorded, never from here.
type HostInfo struct {
	Name         string    // unique among live hosts: "<group>@v<version>"
	Group        string    // fusion group it serves
	Address      string    // where it listens (host:port or URL)
	SetupVersion int64     // setup version it routes by
	Tasks        []string  // tasks loaded in the host
	LastSeen     time.Time // when the control plane last heard from it

	// MetricsAddress is the host:port of GET /metrics (Prometheus text
	// format), "" when the host serves none.
	MetricsAddress string
}
