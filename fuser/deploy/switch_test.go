package deploy_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/fuser/deploy"
	"github.com/fusionize/fusionize/fuser/invoke"
)

// switchUnderLoad deploys a caller and its callee at place through a, two
// groups, then one, then two again, while four clients keep calling the
// caller directly and two through the control plane's entry point: every
// request must be answered, by one version or the next, and every version
// must answer some. It closes a before it stops the control
// plane.
func switchUnderLoad(t *testing.T, ctx context.Context, a adapters.Adapter, place setup.Place, quiet *slog.Logger) {
	t.Helper()
	cp, err := server.New(server.Options{DataDir: t.TempDir(), App: "sw", Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", ShutdownTimeout: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cpCtx, stopCP := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- cp.Serve(cpCtx) }()
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := a.Close(cctx); err != nil && !errors.Is(err, adapters.ErrClosed) {
			t.Errorf("adapter close: %v", err)
		}
		stopCP()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("control plane: %v", err)
		}
	}()

	c, err := client.Dial(ctx, cp.Addr(), cp.Token())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, task := range []string{"echo", "caller"} {
		if _, err := c.UploadModuleFile(ctx, task, "../../adapters/adaptertest/testdata/"+task+".wasm"); err != nil {
			t.Fatal(err)
		}
	}
	separate := &setup.Setup{Groups: []setup.Group{
		{Name: "caller", Tasks: []string{"caller"}, MemoryMB: 256, Place: place},
		{Name: "echo", Tasks: []string{"echo"}, MemoryMB: 256, Place: place},
	}}
	fused := &setup.Setup{Groups: []setup.Group{{Name: "both", Tasks: []string{"caller", "echo"}, MemoryMB: 256, Place: place}}}

	d := deploy.New(cp.Store(), adapters.Adapters{place.Provider: a}, deploy.Options{App: "sw", ControlPlane: cp.Addr(), Token: cp.Token(), Grace: 500 * time.Millisecond, Logger: quiet})
	apply := func(su *setup.Setup) int64 {
		t.Helper()
		v, err := cp.Store().ApplySetup(su)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Switch(ctx, v); err != nil {
			t.Fatalf("switch to version %d: %v", v, err)
		}
		return v
	}
	first := apply(separate)

	// Groups on the clouds are invoked through their platforms' own auth,
	// so the client needs no invoke token here.
	inv := invoke.New(c)
	defer inv.Close()
	// The same requests through the control plane's entry point, which
	// forwards to the entry group's endpoint (the alias, the URL) itself.
	entry := invoke.NewEntry(cp.Addr(), invoke.WithInvokeToken(cp.InvokeToken()))
	defer entry.Close()
	var stop atomic.Bool
	var ok, failed atomic.Int64
	versions := sync.Map{}
	var wg sync.WaitGroup
	for i := range 6 {
		via, name := inv, "directly"
		if i >= 4 {
			via, name = entry, "through the entry point"
		}
		wg.Go(func() {
			for !stop.Load() {
				rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
				res, err := via.Invoke(rctx, "caller", []byte("live"))
				rcancel()
				if err != nil || string(res.Output) != "live" {
					failed.Add(1)
					t.Errorf("request sent %s failed during the switch: %q, %v", name, res.Output, err)
					continue
				}
				ok.Add(1)
				if via == inv { // the entry point does not say which version served
					versions.Store(res.Version, true)
				}
			}
		})
	}
	time.Sleep(time.Second)
	second := apply(fused)
	time.Sleep(time.Second)
	third := apply(separate)
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()
	for _, v := range []int64{first, second, third} {
		if _, seen := versions.Load(v); !seen {
			t.Errorf("no request reached setup version %d", v)
		}
	}
	t.Logf("%d requests answered across versions %d → %d → %d, %d failed", ok.Load(), first, second, third, failed.Load())
}
