package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/store"
	"github.com/fusionize/fusionize/fuser/deploy"
)

// fake deploys nothing: it hands out an address per group.
type fake struct {
	name      string
	providers []string
	mu        sync.Mutex
	deployed  map[string]bool
}

func (f *fake) Name() string        { return f.name }
func (f *fake) Providers() []string { return f.providers }
func (f *fake) Deploy(_ context.Context, d adapters.Deployment) (adapters.Endpoint, error) {
	if !adapters.Serves(f, d.Group.Place) {
		return adapters.Endpoint{}, fmt.Errorf("%s: %w", f.name, adapters.ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deployed[d.ID()] = true
	return adapters.Endpoint{Group: d.Group.Name, Version: d.Version, Provider: d.Group.Place.Provider,
		Endpoint: api.GRPC(f.name + "-" + d.ID() + ":1")}, nil
}
func (f *fake) Remove(_ context.Context, group string, version int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.deployed, adapters.ID(group, version))
	return nil
}
func (f *fake) List(context.Context) ([]adapters.Endpoint, error) { return nil, nil }
func (f *fake) Close(context.Context) error                       { return nil }

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestSwitchRecordsEveryGroupsEndpointFromTheAdapterOfItsProvider(t *testing.T) {
	st := newStore(t)
	local := &fake{name: "local", providers: []string{"local"}, deployed: map[string]bool{}}
	aws := &fake{name: "aws", providers: []string{"aws"}, deployed: map[string]bool{}}
	d := deploy.New(st, adapters.Adapters{"local": local, "aws": aws}, deploy.Options{App: "t"})
	v, err := st.ApplySetup(&setup.Setup{Groups: []setup.Group{
		{Name: "a", Tasks: []string{"A"}, MemoryMB: 128, Place: setup.Place{Provider: "local"}},
		{Name: "b", Tasks: []string{"B"}, MemoryMB: 128, Place: setup.Place{Provider: "aws", Region: "us-east-1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Switch(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	eps, err := st.Endpoints(v)
	if err != nil {
		t.Fatal(err)
	}
	want := api.Endpoints{"a": api.GRPC("local-a@v1:1"), "b": api.GRPC("aws-b@v1:1")}
	if len(eps) != 2 || eps["a"] != want["a"] || eps["b"] != want["b"] {
		t.Fatalf("recorded endpoints %v, want %v", eps, want)
	}
	if active, _ := st.ActiveVersion(); active != v {
		t.Fatalf("active version %d, want %d", active, v)
	}
}

func TestSwitchRefusesAPlaceNoAdapterServes(t *testing.T) {
	st := newStore(t)
	local := &fake{name: "local", providers: []string{"local"}, deployed: map[string]bool{}}
	d := deploy.New(st, adapters.Adapters{"local": local}, deploy.Options{App: "t"})
	v, err := st.ApplySetup(&setup.Setup{Groups: []setup.Group{
		{Name: "a", Tasks: []string{"A"}, MemoryMB: 128, Place: setup.Place{Provider: "local"}},
		{Name: "b", Tasks: []string{"B"}, MemoryMB: 128, Place: setup.Place{Provider: "gcp", Region: "us-east4"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Switch(context.Background(), v); !errors.Is(err, adapters.ErrInvalid) {
		t.Fatalf("Switch = %v, want ErrInvalid", err)
	}
	if len(local.deployed) != 0 {
		t.Fatalf("deployed %v of a refused setup", local.deployed)
	}
	if active, _ := st.ActiveVersion(); active != 0 {
		t.Fatalf("active version %d after a refused setup", active)
	}
	if eps, _ := st.Endpoints(v); len(eps) != 0 {
		t.Fatalf("endpoints %v recorded for a refused setup", eps)
	}
}
