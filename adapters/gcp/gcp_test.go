package gcp_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/adaptertest"
	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/emulators/tasks"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/https"
	"github.com/fusionize/fusionize/runtime/gcf"
)

func TestSourceIsDeterministicAndStandsAlone(t *testing.T) {
	su := &setup.Setup{Version: 3, Groups: gcpGroups(setup.Group{Name: "CA", Tasks: []string{"echo"}, MemoryMB: 256})}
	cfg := gcf.Config{App: "iot", SetupVersion: 3, Group: "CA", MemoryMB: 256, Setup: su}
	mods := []gcf.Module{{Task: "echo", Digest: digest(wasm(t, "echo")), Wasm: wasm(t, "echo")}}
	start := time.Now()
	first, info, err := gcp.NewPackager(vendorCache, slog.New(slog.DiscardHandler)).Build(context.Background(), cfg, mods)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("source: %d bytes, %d files, sha256 %s (%s, vendoring included if not cached)", info.Size, info.Files, info.SHA256, time.Since(start).Round(time.Millisecond))
	// A fresh packager finds the vendored tree on disk.
	start = time.Now()
	second, info2, err := gcp.NewPackager(vendorCache, slog.New(slog.DiscardHandler)).Build(context.Background(), cfg, mods)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("again from the cached vendor tree: %s", time.Since(start).Round(time.Millisecond))
	if !bytes.Equal(first, second) || info.SHA256 != info2.SHA256 {
		t.Fatalf("the same inputs gave different bytes: %s vs %s", info.SHA256, info2.SHA256)
	}
	files := zipFiles(t, first)
	for _, name := range []string{"go.mod", "go.sum", "function.go", "fusionize.json", "modules/echo.wasm", "vendor/modules.txt",
		"vendor/github.com/fusionize/fusionize/runtime/gcf/run.go",
		"vendor/github.com/GoogleCloudPlatform/functions-framework-go/funcframework/framework.go"} {
		if _, ok := files[name]; !ok {
			t.Errorf("source has no %s", name)
		}
	}
	gomod := string(files["go.mod"])
	if !strings.HasPrefix(gomod, "module fusionize.dev/fn/ca\n") || strings.Contains(gomod, "replace") || !strings.Contains(gomod, gcp.FusionizeModule+" v0.0.0-") {
		t.Errorf("go.mod:\n%s", gomod)
	}
	if mt := string(files["vendor/modules.txt"]); strings.Contains(mt, "=>") || !strings.Contains(mt, "\n# "+gcp.FusionizeModule+" v0.0.0-") {
		t.Errorf("vendor/modules.txt still names a replacement or lacks %s", gcp.FusionizeModule)
	}
	if !bytes.Contains(files["function.go"], []byte(`functions.HTTP(gcf.EntryPoint`)) {
		t.Errorf("function.go does not register the function:\n%s", files["function.go"])
	}
	for name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.Contains(name, "/testdata/") {
			t.Errorf("source carries %s", name)
		}
	}
}

func TestFunctionNamesStayApartAndValid(t *testing.T) {
	seen := map[string]string{}
	for _, c := range [][2]string{{"iot", "CA"}, {"iot", "ca"}, {"iot", "CA,DJ"}, {"iot", "CA-DJ"}, {"a-very-long-application-name-indeed", "a-group-name-that-goes-on-and-on-and-on"}} {
		n := gcp.FunctionName(c[0], c[1], 12)
		if len(n) > 63 || !strings.HasPrefix(n, "fz-") || !strings.HasSuffix(n, "-v12") || strings.ToLower(n) != n {
			t.Errorf("FunctionName(%q, %q) = %q", c[0], c[1], n)
		}
		if prev, ok := seen[n]; ok {
			t.Errorf("%q and %q share the function name %q", prev, c[1], n)
		}
		seen[n] = c[1]
	}
}

// TestDeployedGroups deploys two groups of one setup to the emulator and
// checks what their callers see through the HTTPS transport.
func TestDeployedGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Cloud Functions in the emulator")
	}
	p := newPlatform(t, tasks.Options{MaxAttempts: 3, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	queue := p.queue.QueueURL("fusionize-local", "us-east4", "fusionize")
	a := p.adapter(t, gcp.Options{Timeout: 3, Queue: queue})
	for _, task := range []string{"caller", "fanout", "echo", "trap", "loop"} {
		p.env.Upload(t, task, wasm(t, task))
	}
	su := p.env.Apply(t, gcpGroups(
		setup.Group{Name: "front", Tasks: []string{"caller", "fanout"}, MemoryMB: 256},
		setup.Group{Name: "back", Tasks: []string{"echo", "trap", "loop"}, MemoryMB: 256},
	)...)
	eps := map[string]adapters.Endpoint{}
	for _, g := range []string{"back", "front"} {
		start := time.Now()
		ep, err := a.Deploy(t.Context(), p.env.Deployment(t, su, g))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("deployed %s in %s at %s", g, time.Since(start).Round(time.Millisecond), ep.Endpoint)
		if ep.Endpoint.Kind != api.KindHTTPS || ep.Endpoint.Validate() != nil {
			t.Fatalf("endpoint %+v", ep)
		}
		eps[g] = ep
	}
	// As the deployer does before it activates the version.
	if err := p.env.Record(su.Version, api.Endpoints{"back": eps["back"].Endpoint, "front": eps["front"].Endpoint}); err != nil {
		t.Fatal(err)
	}
	tr := https.New(https.Options{})
	defer tr.Close()
	back, front := eps["back"].Endpoint.URL, eps["front"].Endpoint.URL

	t.Run("AnswersAsTheFusedHost", func(t *testing.T) {
		fused := fusedHost(t, "caller", "echo")
		for _, in := range [][]byte{[]byte("hello"), bytes.Repeat([]byte{0, 1, 2, 255}, 8<<10)} {
			want, err := fused.Invoke(t.Context(), "caller", in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Call(t.Context(), back, host.Call{Task: "echo", Input: in})
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("echo over HTTPS = %d bytes, %v; fused caller = %d bytes", len(got), err, len(want))
			}
		}
		var took []time.Duration
		for range 30 {
			start := time.Now()
			if _, err := tr.Call(t.Context(), back, host.Call{Task: "echo", Input: []byte("warm")}); err != nil {
				t.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		t.Logf("warm invoke through the emulator's front (emulated platform): p50 %s, p90 %s", took[len(took)/2], took[len(took)*9/10])
	})

	t.Run("CallsAnotherGroupOverHTTPS", func(t *testing.T) {
		fused := fusedHost(t, "caller", "echo")
		in := []byte("front calls back")
		want, err := fused.Invoke(t.Context(), "caller", in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tr.Call(t.Context(), front, host.Call{Task: "caller", Input: in})
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("caller in front, echo in back = %q, %v; fused = %q", got, err, want)
		}
		spans := waitSpans(t, p, su.Version, func(s []span.Span) bool { return hasRemote(s, "caller", "echo") })
		t.Logf("%d spans reported, the remote call caller→echo among them", len(spans))
	})

	t.Run("ErrorsKeepHostCodes", func(t *testing.T) {
		for _, c := range []struct {
			name string
			call host.Call
			want error
		}{
			{"UnknownTask", host.Call{Task: "nope"}, host.ErrUnknownTask},
			{"Trap", host.Call{Task: "trap"}, host.ErrFailed},
			{"TooLarge", host.Call{Task: "echo", Input: make([]byte, https.MaxBody)}, host.ErrTooLarge},
			{"Timeout", host.Call{Task: "loop"}, host.ErrDeadline},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := tr.Call(t.Context(), back, c.call)
				if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.call.Task) {
					t.Fatalf("%v, want %v naming task %q", err, c.want, c.call.Task)
				}
				t.Log(err)
			})
		}
		t.Run("CrashedInstance", func(t *testing.T) {
			// The instance serving loop dies mid-request.
			go func() {
				time.Sleep(300 * time.Millisecond)
				for _, pid := range processesUnder(filepath.Join(p.dir, "builds")) {
					if strings.Contains(pid, "fz-gcptest-back-") {
						killProcess(pid)
					}
				}
			}()
			_, err := tr.Call(t.Context(), back, host.Call{Task: "loop"})
			if !errors.Is(err, host.ErrUnavailable) || !strings.Contains(err.Error(), "loop") {
				t.Fatalf("%v, want ErrUnavailable naming task loop", err)
			}
			t.Log(err)
		})
		_, err := tr.Call(t.Context(), back+"-gone", host.Call{Task: "echo"})
		if !errors.Is(err, host.ErrNotFound) {
			t.Fatalf("no such function: %v, want ErrNotFound", err)
		}
	})

	t.Run("AsyncThatKeepsFailingReachesTheDeadLetters", func(t *testing.T) {
		out, err := tr.Call(t.Context(), front, host.Call{Task: "fanout", Input: []byte("trap")})
		if err != nil || string(out) != "accepted" {
			t.Fatalf("fanout = %q, %v", out, err)
		}
		deadline := time.Now().Add(time.Minute)
		for len(p.queue.DeadLetters(queue)) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no dead letter; queue %+v", p.queue.Stats(queue))
			}
			time.Sleep(20 * time.Millisecond)
		}
		d := p.queue.DeadLetters(queue)[0]
		if d.DispatchCount != 3 || d.LastStatus != http.StatusUnprocessableEntity || d.HTTPRequest.URL != back {
			t.Fatalf("dead letter: %d attempts, last %d, to %s; want 3 answered 422 by %s", d.DispatchCount, d.LastStatus, d.HTTPRequest.URL, back)
		}
	})

	t.Run("RemoveListClose", func(t *testing.T) {
		list, err := a.List(t.Context())
		if err != nil || len(list) != 2 {
			t.Fatalf("List = %+v, %v", list, err)
		}
		if err := a.Remove(t.Context(), "back", su.Version); err != nil {
			t.Fatal(err)
		}
		if err := a.Remove(t.Context(), "back", su.Version); !errors.Is(err, adapters.ErrNotFound) {
			t.Fatalf("second Remove: %v", err)
		}
		if _, err := tr.Call(t.Context(), back, host.Call{Task: "echo"}); !errors.Is(err, host.ErrNotFound) {
			t.Fatalf("removed function: %v, want ErrNotFound", err)
		}
		if err := a.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if left := p.leftovers(a)(); len(left) > 0 {
			t.Fatalf("after Close: %q", left)
		}
	})
}

func TestFunctionThatCannotLoadItsGroupIsUnhealthy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Cloud Functions in the emulator")
	}
	p := newPlatform(t, tasks.Options{})
	a := p.adapter(t, gcp.Options{})
	p.env.UploadUnchecked(t, adaptertest.BadTask, adaptertest.Module(t, adaptertest.BadTask))
	su := p.env.Apply(t, gcpGroups(setup.Group{Name: "bad", Tasks: []string{"badabi"}, MemoryMB: 256})...)
	for attempt := 1; attempt <= 2; attempt++ {
		_, err := a.Deploy(t.Context(), p.env.Deployment(t, su, "bad"))
		if !errors.Is(err, adapters.ErrUnhealthy) || !strings.Contains(err.Error(), "badabi") {
			t.Fatalf("attempt %d: %v, want ErrUnhealthy with the runtime's message about badabi", attempt, err)
		}
		t.Log(err)
		if left := p.leftovers(a)(); len(left) > 0 {
			t.Fatalf("left after a failed deploy: %q", left)
		}
	}
}

func fusedHost(t *testing.T, tasks ...string) *host.Host {
	t.Helper()
	h, err := host.New(t.Context(), host.Config{Name: "fused", Recorder: span.Discard, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	for _, task := range tasks {
		if err := h.Load(t.Context(), task, wasm(t, task), digest(wasm(t, task))); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func waitSpans(t *testing.T, p *platform, version int64, ok func([]span.Span) bool) []span.Span {
	t.Helper()
	cp := p.env.Dial(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans, err := cp.Spans(t.Context(), version, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if ok(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			sort.Slice(spans, func(i, j int) bool { return spans[i].Start.Before(spans[j].Start) })
			t.Fatalf("spans of setup version %d never showed the call: %+v", version, spans)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasRemote(spans []span.Span, caller, callee string) bool {
	for _, s := range spans {
		if s.Caller == caller && s.Task == callee && s.Remote {
			return true
		}
	}
	return false
}

// TestConformance runs the adapter conformance suite against the Cloud
// Functions emulator.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Cloud Functions in the emulator")
	}
	p := newPlatform(t, tasks.Options{})
	for _, task := range adaptertest.Tasks {
		if task == adaptertest.BadTask {
			p.env.UploadUnchecked(t, task, adaptertest.Module(t, task))
			continue
		}
		p.env.Upload(t, task, adaptertest.Module(t, task))
	}
	groups := func() []setup.Group {
		return gcpGroups(
			setup.Group{Name: adaptertest.GroupCaller, Tasks: []string{"caller"}, MemoryMB: 256},
			setup.Group{Name: adaptertest.GroupEcho, Tasks: []string{"echo"}, MemoryMB: 256},
			setup.Group{Name: adaptertest.GroupLoop, Tasks: []string{"loop"}, MemoryMB: 256},
			setup.Group{Name: adaptertest.GroupBad, Tasks: []string{"badabi"}, MemoryMB: 256},
		)
	}
	env := p.env
	env.Place = setup.Place{Provider: gcp.Provider} // of the groups a case applies itself
	env.Setup = env.Apply(t, groups()...)
	env.Next = env.Apply(t, groups()...)
	var current *gcp.Adapter
	env.Leftovers = func() []string {
		if current == nil {
			return processesUnder(p.dir)
		}
		return p.leftovers(current)()
	}
	adaptertest.Run(t, func(t *testing.T) adapters.Adapter {
		current = p.adapter(t, gcp.Options{})
		return current
	}, env)
}
