package runtime

import (
	"context"
	"errors"

	"github.com/fusionize/fusionize/host"
)

// ValueStore is a durable key-value store of many applications: the control
// plane's client (controlplane/client.Client).
type ValueStore interface {
	GetValue(ctx context.Context, app, key string) ([]byte, bool, error)
	PutValue(ctx context.Context, app, key string, val []byte) error
}

// ControlPlaneKV is the host.KV of one application over the control plane's
// durable store: every host of every setup version of the app, on every
// platform, sees the same keys, and they outlive hosts, live switches and
// control-plane restarts. Nothing is cached or batched: Get asks the
// control plane, and Put returns once the control plane has committed the
// write, so a task that saw its kv_put succeed can rely on it. When the
// control plane cannot be reached for client.ValueWait the guest's kv_get
// and kv_put fail (ABI code INTERNAL with the client's message) rather than
// answer from a copy that might be stale.
type ControlPlaneKV struct {
	store ValueStore
	app   string
}

var _ host.KV = (*ControlPlaneKV)(nil)

// NewControlPlaneKV returns the store of app kept by the control plane
// behind vs.
func NewControlPlaneKV(vs ValueStore, app string) *ControlPlaneKV {
	return &ControlPlaneKV{store: vs, app: app}
}

var errNoApp = errors.New("runtime: key-value store: the host has no application name, so it has no store (start it with the app's name)")

// Get implements host.KV.
func (k *ControlPlaneKV) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if k.app == "" {
		return nil, false, errNoApp
	}
	return k.store.GetValue(ctx, k.app, key)
}

// Put implements host.KV.
func (k *ControlPlaneKV) Put(ctx context.Context, key string, val []byte) error {
	if k.app == "" {
		return errNoApp
	}
	return k.store.PutValue(ctx, k.app, key, val)
}
