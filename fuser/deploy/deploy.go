// Package deploy switches an application from one fusion setup to the next
// without failing requests. It holds one adapter per provider: it deploys
// every group of the new setup version through the adapter of its place's
// provider, waits until all are healthy, records the endpoint each adapter
// returned with the version, makes the new version the active one (clients
// route new requests by it, hosts route their calls by its endpoints),
// waits a grace period, then drains and removes the previous version's
// groups. A setup placing a group where no adapter serves is refused with
// adapters.ErrInvalid before anything is deployed; if any group of the new
// version fails to deploy, the ones that started are removed and the
// previous version keeps serving.
//
//	d := deploy.New(st, adapters.Adapters{"local": la}, deploy.Options{App: "iot", ControlPlane: addr, Token: tok})
//	go d.Run(ctx) // applies every setup the store receives
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/store"
)

// Options configure a Deployer.
type Options struct {
	App          string
	ControlPlane string // address hosts reach the control plane at
	Token        string
	// InvokeToken is handed to every deployed group (adapters.Deployment).
	// Default: the store's (store.Store.InvokeToken), the one the app's
	// control plane keeps in its data directory.
	InvokeToken string
	// Grace is the wait between activating a new version and draining the
	// old one, so clients that resolved the old version finish their
	// requests there. Default 1 s.
	Grace time.Duration
	// Prepare, when set, runs before the groups of a setup version are
	// deployed; an error fails the switch before anything starts. The CLI
	// sets FusedModules, which builds and stores the fused module of each
	// module-fused group.
	Prepare func(ctx context.Context, su *setup.Setup) error
	Logger  *slog.Logger
}

// Deployer deploys setup versions through its adapters, one switch at a
// time.
type Deployer struct {
	st   *store.Store
	ads  adapters.Adapters
	opts Options

	mu       sync.Mutex // serializes switches
	deployed map[int64]*setup.Setup

	stateMu sync.Mutex
	lastErr map[int64]error
	changed chan struct{} // closed and replaced after every switch
}

// New returns a Deployer that deploys each group through ads[provider of
// its place].
func New(st *store.Store, ads adapters.Adapters, opts Options) *Deployer {
	if opts.Grace <= 0 {
		opts.Grace = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Deployer{st: st, ads: ads, opts: opts, deployed: map[int64]*setup.Setup{}, lastErr: map[int64]error{}, changed: make(chan struct{})}
}

// Run deploys the active version (after a restart) and then every newly
// applied setup, until ctx ends. It does not remove groups when it returns;
// close the adapter for that.
func (d *Deployer) Run(ctx context.Context) error {
	active, err := d.st.ActiveVersion()
	if err != nil {
		return err
	}
	after := active
	if active > 0 {
		if err := d.Switch(ctx, active); err != nil {
			d.opts.Logger.Error("redeploy of the active setup failed", "version", active, "err", err)
		}
	} else if cur, err := d.st.CurrentVersion(); err == nil && cur > 0 {
		after = cur - 1 // a setup applied before the deployer ran
	}
	for su := range d.st.WatchSetup(ctx, after) {
		if err := d.Switch(ctx, su.Version); err != nil {
			d.opts.Logger.Error("setup switch failed; the previous setup keeps serving", "version", su.Version, "err", err)
		}
	}
	return ctx.Err()
}

// Switch deploys setup version v and makes it active. On failure the
// previous active version stays active and nothing of v is left running.
func (d *Deployer) Switch(ctx context.Context, v int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.switchLocked(ctx, v)
	if err != nil && ctx.Err() == nil {
		// Clients waiting for v (fusionize up, setup apply) learn why at
		// once through the control plane's Status.
		if rerr := d.st.SetDeployFailure(v, err.Error()); rerr != nil {
			d.opts.Logger.Error("record deploy failure", "version", v, "err", rerr)
		}
	}
	d.stateMu.Lock()
	d.lastErr[v] = err
	close(d.changed)
	d.changed = make(chan struct{})
	d.stateMu.Unlock()
	return err
}

func (d *Deployer) switchLocked(ctx context.Context, v int64) error {
	su, err := d.st.Setup(v)
	if err != nil {
		return fmt.Errorf("deploy: setup version %d: %w", v, err)
	}
	prev, err := d.st.ActiveVersion()
	if err != nil {
		return err
	}
	if _, ok := d.deployed[v]; ok && prev == v {
		return nil
	}
	log := d.opts.Logger.With("version", v)
	start := time.Now()
	// Routes recorded by an earlier run (before a restart) name hosts that
	// are gone: the hosts started now must not pick them up, but wait for
	// the ones recorded below.
	if err := d.st.SetEndpoints(v, api.Endpoints{}); err != nil {
		return fmt.Errorf("deploy: setup version %d: %w", v, err)
	}
	if d.opts.Prepare != nil {
		if err := d.opts.Prepare(ctx, su); err != nil {
			return fmt.Errorf("deploy: setup version %d: %w", v, err)
		}
	}
	eps, err := d.deployAll(ctx, su)
	if err != nil {
		return fmt.Errorf("deploy: setup version %d: %w", v, err)
	}
	d.deployed[v] = su
	// The routes first: once v is active, every host and client of it
	// finds every group of it here.
	routes := make(api.Endpoints, len(eps))
	for _, ep := range eps {
		routes[ep.Group] = ep.Endpoint
	}
	if err := d.st.SetEndpoints(v, routes); err != nil {
		return fmt.Errorf("deploy: setup version %d: %w", v, err)
	}
	if err := d.st.SetActiveVersion(v); err != nil {
		return err
	}
	log.Info("setup active", "groups", len(eps), "took", time.Since(start).Round(time.Millisecond))
	if old, ok := d.deployed[prev]; ok && prev != v {
		select {
		case <-time.After(d.opts.Grace):
		case <-ctx.Done():
		}
		d.removeAll(context.WithoutCancel(ctx), old)
		delete(d.deployed, prev)
	}
	return nil
}

// deployAll deploys every group of su in parallel; on any failure it
// removes the groups that did start.
func (d *Deployer) deployAll(ctx context.Context, su *setup.Setup) ([]adapters.Endpoint, error) {
	for _, g := range su.Groups {
		if _, err := d.ads.For(g.Place); err != nil {
			return nil, fmt.Errorf("group %s: %w", g.Name, err)
		}
	}
	invokeToken := d.opts.InvokeToken
	if invokeToken == "" {
		tok, err := d.st.InvokeToken()
		if err != nil {
			return nil, fmt.Errorf("deploy: invoke token: %w", err)
		}
		invokeToken = tok
	}
	var mu sync.Mutex
	var eps []adapters.Endpoint
	var errs []error
	var wg sync.WaitGroup
	for _, g := range su.Groups {
		wg.Go(func() {
			ad, _ := d.ads.For(g.Place) // checked above
			ep, err := ad.Deploy(ctx, adapters.Deployment{
				App: d.opts.App, Version: su.Version, Group: g,
				ControlPlane: d.opts.ControlPlane, Token: d.opts.Token, InvokeToken: invokeToken,
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("group %s: %w", g.Name, err))
				return
			}
			// Recorded (and removed on failure) even when its endpoint is
			// bad: it runs.
			eps = append(eps, ep)
			if err := ep.Endpoint.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("group %s: adapter %s: %w", g.Name, ad.Name(), err))
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		for _, ep := range eps {
			ad, _ := d.ads.For(placeOf(su, ep.Group))
			if err := ad.Remove(context.WithoutCancel(ctx), ep.Group, ep.Version); err != nil {
				d.opts.Logger.Warn("cleanup after failed deploy", "group", ep.Group, "err", err)
			}
		}
		return nil, errors.Join(errs...)
	}
	return eps, nil
}

func (d *Deployer) removeAll(ctx context.Context, su *setup.Setup) {
	var wg sync.WaitGroup
	for _, g := range su.Groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ad, err := d.ads.For(g.Place)
			if err == nil {
				err = ad.Remove(ctx, g.Name, su.Version)
			}
			if err != nil && !errors.Is(err, adapters.ErrNotFound) {
				d.opts.Logger.Warn("remove old group", "group", g.Name, "version", su.Version, "err", err)
			}
		}()
	}
	wg.Wait()
}

// Wait blocks until version v has been switched to (returning nil) or has
// failed (returning its error), or ctx ends.
func (d *Deployer) Wait(ctx context.Context, v int64) error {
	for {
		d.stateMu.Lock()
		err, done := d.lastErr[v]
		ch := d.changed
		d.stateMu.Unlock()
		if done {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// placeOf returns the place of group in su.
func placeOf(su *setup.Setup, group string) setup.Place {
	g, _ := su.Group(group)
	return g.Place
}
