package process

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/host"
)

// recordedEndpoints is the routing table of one setup version, from the
// endpoints the deployer recorded with it. A host of a new version starts
// before the version's other groups are deployed, so the table may be
// incomplete at first: a group it does not know yet is looked up again
// (at most every refreshEvery). The deployer records every endpoint
// before it makes the version active, so by the time clients send
// requests the table is complete. Heartbeats play no part in it.
type recordedEndpoints struct {
	cp      *client.Client
	version int64

	mu   sync.Mutex
	eps  api.Endpoints
	last time.Time
}

const refreshEvery = 100 * time.Millisecond

var _ host.Endpoints = (*recordedEndpoints)(nil)

func newRecordedEndpoints(cp *client.Client, version int64, eps api.Endpoints) *recordedEndpoints {
	return &recordedEndpoints{cp: cp, version: version, eps: eps}
}

// Endpoint implements host.Endpoints.
func (r *recordedEndpoints) Endpoint(ctx context.Context, group string) (api.Endpoint, error) {
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
