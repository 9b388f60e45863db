package examples_test

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/emulators/gcf"
	"github.com/fusionize/fusionize/fuser/deploy"
	"github.com/fusionize/fusionize/fuser/invoke"
)

// TestIoTOnCloudFunctionsColdStarts deploys the IoT app group by group (every task its
// own Cloud Function at 512 MB) through the deployer and the gcp adapter to the Cloud
// Functions emulator, twice: with the wazero compilation cache in each function's source
// and without. Each time the app answers as the fused app does, and the test logs per
// group the source size and what the emulator reported for the function's first request
// (its cold start: init, duration, peak memory; emulated figures).
func TestIoTOnCloudFunctionsColdStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the IoT app and ten Cloud Functions from source, twice")
	}
	app := buildApp(t, "iot")
	want := fusedResult(t, app)
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	cp := controlPlane(t)
	cp.uploadModules(ctx, t, app)
	emu, err := gcf.New(gcf.Options{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := emu.Close(cctx); err != nil {
			t.Errorf("gcf emulator: %v", err)
		}
	})
	vendor, err := os.MkdirTemp("", "fusionize-vendor-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(vendor) })

	for _, withCache := range []bool{true, false} {
		sizes := &sourceSizes{}
		pack := gcp.NewPackager(vendor, quiet)
		pack.NoCache = !withCache
		a, err := gcp.New(ctx, gcp.Options{Endpoint: emu.GRPCAddr(), Timeout: 30, PollInterval: 20 * time.Millisecond,
			Packager: pack, Drain: -1, Logger: slog.New(slog.NewJSONHandler(sizes, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err != nil {
			t.Fatal(err)
		}
		su := setup.Separate(0, app.TaskNames(), setup.Place{Provider: gcp.Provider, Region: "us-east4"}, 512)
		v, err := cp.client.ApplySetup(ctx, su)
		if err != nil {
			t.Fatal(err)
		}
		d := deploy.New(cp.store, adapters.Adapters{gcp.Provider: a}, deploy.Options{App: app.Name, ControlPlane: cp.addr, Token: cp.token, Logger: quiet})
		start := time.Now()
		if err := d.Switch(ctx, v); err != nil {
			t.Fatal(err)
		}
		t.Logf("with cache %v: ten functions deployed in %s", withCache, time.Since(start).Round(time.Second))
		inv := invoke.New(cp.client)
		res, err := inv.Invoke(ctx, app.Entry, []byte(app.Input))
		inv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(res.Output, want) {
			t.Fatalf("on Cloud Functions the app returned\n%s\nfused it returned\n%s", res.Output, want)
		}
		for _, g := range su.Groups {
			id := gcp.FunctionName(app.Name, g.Name, v)
			var first *gcf.Request
			for _, r := range emu.Requests(id) {
				if r.Cold {
					first = &r
					break
				}
			}
			if first == nil {
				t.Fatalf("no cold request reported for %s", id)
			}
			t.Logf("cache %-5v %-4s %d MB (%.3f vCPU): source %5.1f MB; first request (emulated): init %7.1f ms, duration %6.1f ms, max memory %3d MB",
				withCache, g.Name, first.MemoryMB, first.VCPU, float64(sizes.of(g.Name))/(1<<20),
				float64(first.Init.Microseconds())/1000, float64(first.Duration.Microseconds())/1000, first.MaxMemoryMB)
		}
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		if err := a.Close(cctx); err != nil && !errors.Is(err, adapters.ErrClosed) {
			t.Errorf("close adapter: %v", err)
		}
		ccancel()
	}
}

// sourceSizes reads the gcp adapter's debug log for the size of each group's source.
type sourceSizes struct {
	mu    sync.Mutex
	bytes map[string]int64
}

func (s *sourceSizes) Write(b []byte) (int, error) {
	var rec struct {
		Msg   string
		Group string
		Bytes int64
	}
	if stdjson.Unmarshal(b, &rec) == nil && strings.HasPrefix(rec.Msg, "function source") {
		s.mu.Lock()
		if s.bytes == nil {
			s.bytes = map[string]int64{}
		}
		s.bytes[rec.Group] = rec.Bytes
		s.mu.Unlock()
	}
	return len(b), nil
}

func (s *sourceSizes) of(group string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes[group]
}
