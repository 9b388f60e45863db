package runtime

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/host"
)

// RecordedEndpoints is the routing table of one setup version, from the
// endpoints the deployer recorded with it. A host of a new version starts
// before the version's other groups are deployed, so the table may be
// incomplete at first: a group it does not know yet is looked up again
// (at most every refreshEvery). The deployer records every endpoint
// before it makes the version active, so by the time clients send
// requests the table is complete. Heartbeats play no part in it.
type RecordedEndpoints struct {
	cp      EndpointSource
	version int64

	mu   sync.Mutex
	eps  api.Endpoints
	last time.Time
}

const refreshEvery = 100 * time.Millisecond

var _ host.Endpoints = (*RecordedEndpoints)(nil)

// EndpointSource gives the endpoints recorded with a setup version: the
// control plane's client.
type EndpointSource interface {
	SetupEndpoints(ctx context.Context, version int64) (*setup.Setup, api.Endpoints, error)
}

// NewRecordedEndpoints returns the routing table of setup version, starting
// from eps (what the host already knows) and asking cp for the rest.
func NewRecordedEndpoints(cp EndpointSource, version int64, eps api.Endpoints) *RecordedEndpoints {
	return &RecordedEndpoints{cp: cp, version: version, eps: eps}
}

// Endpoint implements host.Endpoints.
func (r *RecordedEndpoints) Endpoint(ctx context.Context, group string) (api.Endpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ep, ok := r.eps[group]; ok {
		return ep, nil
	}
	if time.Since(r.last) >= refreshEvery {
		r.last = time.Now()
		_, eps, err := r.cp.SetupEndpoints(ctx, r.version)
		if err != nil {
			return api.Endpoint{}, err
		}
		r.eps = eps
		if ep, ok := r.eps[group]; ok {
			return ep, nil
		}
	}
	return api.Endpoint{}, fmt.Errorf("%w %q of setup version %d (not deployed yet?)", host.ErrNoEndpoint, group, r.version)
}
