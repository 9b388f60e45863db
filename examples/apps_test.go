package examples_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/guest-sdk/build"
	"github.com/fusionize/fusionize/host"
)

// cacheDir is a compilation cache shared with the other tests of the
// repository (the e2e tests' host processes use it too), so each module
// compiles once.
var cacheDir = filepath.Join(os.TempDir(), "fusionize-test", "cache")

// buildApp builds app's modules (skipping fresh ones) and returns it.
func buildApp(t *testing.T, name string) *manifest.App { return buildAppB(t, name) }

func buildAppB(t testing.TB, name string) *manifest.App {
	t.Helper()
	app, err := manifest.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := build.CheckTools(app, build.Options{}); err != nil && os.Getenv("CI") == "" {
		t.Skipf("%v\n(required when CI is set; make setup installs every tool)", err)
	}
	if _, err := build.Build(context.Background(), app, build.Options{}); err != nil {
		t.Fatal(err)
	}
	return app
}

func newHost(t *testing.T, cfg host.Config) *host.Host {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.CacheDir = cacheDir
	h, err := host.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func closeHosts(t *testing.T, hs ...*host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Async calls may still be crossing between the hosts: close none
	// before all are idle, as a draining deployment does.
	for quiet := false; !quiet && ctx.Err() == nil; {
		quiet = true
		for _, h := range hs {
			quiet = quiet && h.Quiet(100*time.Millisecond)
		}
		if !quiet {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, h := range hs {
		if err := h.Close(ctx); err != nil {
			t.Errorf("close %s: %v", h.Name(), err)
		}
		if st := h.Stats(); st.AsyncFailed != 0 {
			t.Errorf("host %s: %d async calls failed", h.Name(), st.AsyncFailed)
		}
	}
}

// peers is the test transport: it hands a call to the host of the callee's
// group, in process, marked remote as a network server would.
type peers map[string]*host.Host

func (p peers) Invoke(ctx context.Context, to host.Target, c host.Call) ([]byte, error) {
	h, ok := p[to.Endpoint.Address]
	if !ok {
		return nil, &host.Error{Task: c.Task, Code: host.CodeUnavailable, Msg: "no host for group " + to.Group}
	}
	c.Remote = true
	return h.Serve(ctx, c)
}

// Endpoint implements host.Endpoints: every group's endpoint names it.
func (p peers) Endpoint(_ context.Context, group string) (api.Endpoint, error) {
	return api.Endpoint{Kind: "in-process", Address: group}, nil
}

// observed returns the call edges seen in spans, in the notation of graphs.
func observed(spans []span.Span) []string {
	seen := map[string]bool{}
	for _, s := range spans {
		if s.Caller == "" {
			continue
		}
		arrow := "->"
		if s.Async {
			arrow = "~>"
		}
		seen[s.Caller+arrow+s.Task] = true
	}
	var out []string
	for e := range seen {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// answers are apps' answers to their manifest's input. The tree app's is the
// one it gave with every task but D in Go: task B, now in AssemblyScript,
// must answer byte for byte as the Go B did. Hotspot's and slowbranch's pin
// that their work is deterministic.
var answers = map[string]string{
	"hotspot":    `{"task":"api","page":{"etag":"0fffc28b751c403c","html":"for u-7731: 1. shelf (4AAAF4B05E, 456) 2. chair (B84547A0DA, 429) 3. desk (B03A914802, 308) 4. lamp (49AA92D147, 158)","session":"e76e5576ef3918c8"}}`,
	"slowbranch": `{"task":"order","receipt":"b098bfe45e049154","stock":{"sku":"6E92ZMYYFZ","available":16,"inStock":true},"quote":{"unitCents":346,"vatPercent":19,"totalCents":1235}}`,
	"tree":       `{"task":"A","sum":"b1fe97367658bc75","b":{"task":"B","sum":"1317f00857702741","d":{"d":"e753e6c5","e_fnv":"e2977fb2","e":{"d":"e753e6c5","sum":"df89b45e1d4037b3","task":"E"}}}}`,
}

// appMemoryMB is the memory size of every group the app tests run: it sets
// each instance's memory cap, and hotspot's score task holds a 128 MiB
// table.
const appMemoryMB = 1024

// TestFusedAndSeparateAgree runs each app with every task fused in one host
// and with every task in its own host behind the test transport: both must
// return the same result, and the spans must show the documented call graph.
func TestFusedAndSeparateAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every example app")
	}
	for _, name := range apps {
		t.Run(name, func(t *testing.T) {
			app := buildApp(t, name)
			ctx := context.Background()
			input := []byte(app.Input)

			fusedRec := span.NewBuffer(1 << 12)
			fused := newHost(t, host.Config{Name: "fused", Group: "all", App: app.Name, Recorder: fusedRec, MemoryMB: appMemoryMB})
			if err := fused.LoadApp(ctx, app, nil, nil); err != nil {
				t.Fatal(err)
			}
			want, err := fused.Invoke(ctx, app.Entry, input)
			if err != nil {
				t.Fatal(err)
			}
			closeHosts(t, fused)

			sep := setup.Separate(1, app.TaskNames(), setup.Place{Provider: "local"}, 128)
			p := peers{}
			var mu sync.Mutex
			var sepSpans []span.Span
			rec := span.RecorderFunc(func(s span.Span) { mu.Lock(); sepSpans = append(sepSpans, s); mu.Unlock() })
			var hosts []*host.Host
			for _, g := range sep.Groups {
				h := newHost(t, host.Config{Name: "host-" + g.Name, Group: g.Name, App: app.Name, Transport: p, Endpoints: p, Recorder: rec, MemoryMB: appMemoryMB})
				hosts = append(hosts, h)
				if err := h.LoadApp(ctx, app, g.Tasks, nil); err != nil {
					t.Fatal(err)
				}
				if err := h.SetSetup(sep); err != nil {
					t.Fatal(err)
				}
				p[g.Name] = h
			}
			got, err := p[app.Entry].Invoke(ctx, app.Entry, input)
			if err != nil {
				t.Fatal(err)
			}
			closeHosts(t, hosts...)
			if !bytes.Equal(got, want) {
				t.Fatalf("separate hosts returned\n%s\nfused returned\n%s", got, want)
			}
			if golden, ok := answers[name]; ok && string(want) != golden {
				t.Errorf("%s answered\n%s\nwant\n%s", name, want, golden)
			}

			wantEdges := slices.Sorted(slices.Values(graphs[name]))
			if e := observed(fusedRec.Drain()); !slices.Equal(e, wantEdges) {
				t.Errorf("fused call graph %v, want %v", e, wantEdges)
			}
			if e := observed(sepSpans); !slices.Equal(e, wantEdges) {
				t.Errorf("separate call graph %v, want %v", e, wantEdges)
			}
			for _, s := range sepSpans {
				if s.Caller != "" && !s.Remote {
					t.Errorf("span %s→%s crossed groups but is not marked remote", s.Caller, s.Task)
				}
			}
		})
	}
}
