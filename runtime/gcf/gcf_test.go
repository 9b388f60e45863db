package gcf_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/emulators/tasks"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/https"
	"github.com/fusionize/fusionize/runtime/gcf"
)

// testSetup has one group per test module, on gcp.
var testSetup = &setup.Setup{Version: 7, Groups: []setup.Group{
	{Name: "front", Tasks: []string{"caller", "fanout"}, MemoryMB: 256, Place: setup.Place{Provider: "gcp"}},
	{Name: "back", Tasks: []string{"echo", "trap", "loop", "big"}, MemoryMB: 256, Place: setup.Place{Provider: "gcp"}},
}}

func wasm(t testing.TB, task string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "host", "testdata", task+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeSource writes the data files of group's function source into a
// fresh directory: what the source archive holds besides Go code.
func writeSource(t testing.TB, group string, endpoints api.Endpoints) string {
	t.Helper()
	dir := t.TempDir()
	g, ok := testSetup.Group(group)
	if !ok {
		t.Fatalf("no group %q", group)
	}
	cfg := gcf.Config{App: "test", SetupVersion: testSetup.Version, Group: group, MemoryMB: g.MemoryMB, Setup: testSetup, Endpoints: endpoints}
	var mods []gcf.Module
	for _, task := range g.Tasks {
		b := wasm(t, task)
		sum := sha256.Sum256(b)
		mods = append(mods, gcf.Module{Task: task, Digest: "sha256:" + hex.EncodeToString(sum[:]), Wasm: b})
	}
	src := gcf.Source{GoMod: []byte("module x\n"), Vendor: map[string][]byte{"modules.txt": nil}, Config: cfg, Modules: mods}
	files, err := src.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name != gcf.ConfigFile && !strings.HasPrefix(f.Name, gcf.ModulesDir+"/") {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// serve loads group from its source and serves it over HTTP on loopback.
func serve(t testing.TB, group string, endpoints api.Endpoints) string {
	t.Helper()
	fn, err := gcf.Load(context.Background(), gcf.Options{SourceDir: writeSource(t, group, endpoints), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Load %s: %v", group, err)
	}
	srv := httptest.NewServer(fn.Handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := fn.Close(ctx); err != nil {
			t.Errorf("Close %s: %v", group, err)
		}
	})
	return srv.URL
}

func TestCallThroughTransportReturnsTaskOutput(t *testing.T) {
	url := serve(t, "back", nil)
	tr := https.New(https.Options{})
	defer tr.Close()
	in := bytes.Repeat([]byte("fusionize "), 1000)
	out, err := tr.Call(t.Context(), url, host.Call{Task: "echo", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("echo = %d bytes, want the %d bytes sent", len(out), len(in))
	}
	name, err := tr.Ping(t.Context(), url)
	if err != nil || name != "back@v7" {
		t.Fatalf("Ping = %q, %v; want back@v7", name, err)
	}
}

func TestGroupCallsGroupOverHTTPS(t *testing.T) {
	back := serve(t, "back", nil)
	front := serve(t, "front", api.Endpoints{"back": {Kind: api.KindHTTPS, URL: back}})
	tr := https.New(https.Options{})
	defer tr.Close()
	out, err := tr.Call(t.Context(), front, host.Call{Task: "caller", Input: []byte("across groups")})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "across groups" {
		t.Fatalf("caller = %q", out)
	}
}

func TestErrorsKeepTheirHostCode(t *testing.T) {
	url := serve(t, "back", nil)
	tr := https.New(https.Options{})
	defer tr.Close()
	for _, c := range []struct {
		name    string
		call    host.Call
		timeout time.Duration
		want    error
	}{
		{"UnknownTask", host.Call{Task: "nope"}, 0, host.ErrUnknownTask},
		{"Trap", host.Call{Task: "trap"}, 0, host.ErrFailed},
		{"Timeout", host.Call{Task: "loop"}, 300 * time.Millisecond, host.ErrDeadline},
		{"TooLargeBeforeSending", host.Call{Task: "echo", Input: make([]byte, https.MaxBody)}, 0, host.ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			if c.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.timeout)
				defer cancel()
			}
			_, err := tr.Call(ctx, url, c.call)
			if !errors.Is(err, c.want) {
				t.Fatalf("%s: %v, want %v", c.call.Task, err, c.want)
			}
			if !strings.Contains(err.Error(), c.call.Task) {
				t.Errorf("error does not name task %q: %v", c.call.Task, err)
			}
			t.Log(err)
		})
	}
}

func TestPlatformStatusesMapToHostCodes(t *testing.T) {
	for _, c := range []struct {
		status int
		want   error
	}{
		{http.StatusNotFound, host.ErrNotFound},
		{http.StatusRequestEntityTooLarge, host.ErrTooLarge},
		{http.StatusInternalServerError, host.ErrUnavailable},
		{http.StatusServiceUnavailable, host.ErrUnavailable},
		{http.StatusGatewayTimeout, host.ErrDeadline},
	} {
		t.Run(http.StatusText(c.status), func(t *testing.T) {
			// A front that answers as Cloud Run does when no runtime did.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "Cloud Run says "+http.StatusText(c.status), c.status)
			}))
			defer srv.Close()
			tr := https.New(https.Options{})
			defer tr.Close()
			_, err := tr.Call(t.Context(), srv.URL, host.Call{Task: "echo"})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("status %d: %v, want %v naming %s", c.status, err, c.want, srv.URL)
			}
		})
	}
}

func TestThrottledCallIsRetriedWithinTheDeadline(t *testing.T) {
	url := serve(t, "back", nil)
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n++; n <= 2 {
			http.Error(w, "Rejected by Cloud Run: no available instance", http.StatusTooManyRequests)
			return
		}
		http.Redirect(w, r, url, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	tr := https.New(https.Options{ThrottleBackoff: time.Millisecond})
	defer tr.Close()
	out, err := tr.Call(t.Context(), srv.URL, host.Call{Task: "echo", Input: []byte("x")})
	if err != nil || string(out) != "x" {
		t.Fatalf("after two 429s: %q, %v", out, err)
	}
	always := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Rejected by Cloud Run: no available instance", http.StatusTooManyRequests)
	}))
	defer always.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := tr.Call(ctx, always.URL, host.Call{Task: "echo"}); !errors.Is(err, host.ErrTooMany) && !errors.Is(err, host.ErrDeadline) {
		t.Fatalf("always throttled: %v, want ErrTooMany or ErrDeadline", err)
	}
}

func TestAsyncCallThatKeepsFailingReachesTheDeadLetters(t *testing.T) {
	q := tasks.New(tasks.Options{MaxAttempts: 3, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err := q.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	queue := q.QueueURL("p", "us-east4", "fusionize")
	t.Setenv(gcf.EnvQueue, queue)
	back := serve(t, "back", nil)
	front := serve(t, "front", api.Endpoints{"back": {Kind: api.KindHTTPS, URL: back}})
	tr := https.New(https.Options{})
	defer tr.Close()
	// fanout calls the task its input names asynchronously: trap, in the
	// other group, through the queue.
	out, err := tr.Call(t.Context(), front, host.Call{Task: "fanout", Input: []byte("trap")})
	if err != nil || string(out) != "accepted" {
		t.Fatalf("fanout = %q, %v", out, err)
	}
	var dead []tasks.DeadLetter
	for dead == nil {
		select {
		case <-t.Context().Done():
			t.Fatalf("no dead letter; queue stats %+v", q.Stats(queue))
		case <-time.After(5 * time.Millisecond):
		}
		dead = q.DeadLetters(queue)
	}
	d := dead[0]
	if d.DispatchCount != 3 || d.LastStatus != http.StatusUnprocessableEntity || d.HTTPRequest.URL != back {
		t.Fatalf("dead letter %+v: want 3 attempts answered 422 at %s", d, back)
	}
	var env struct {
		Task  string `json:"task"`
		Async bool   `json:"async"`
	}
	if err := json.Unmarshal(d.HTTPRequest.Body, &env); err != nil || env.Task != "trap" || !env.Async {
		t.Fatalf("dead letter body %s: %v", d.HTTPRequest.Body, err)
	}
	resp, err := http.Get(q.URL() + "/emulator/v1/deadletters")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var listed struct {
		Emulated    bool               `json:"emulated"`
		DeadLetters []tasks.DeadLetter `json:"deadLetters"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&listed); err != nil || len(listed.DeadLetters) != 1 || !listed.Emulated {
		t.Fatalf("GET deadletters: %+v, %v", listed, err)
	}
}

func TestAsyncCallWithoutQueueIsUnavailable(t *testing.T) {
	tr := https.New(https.Options{})
	err := tr.Enqueue(t.Context(), "http://127.0.0.1:1/", host.Call{Task: "echo", Async: true})
	if !errors.Is(err, host.ErrUnavailable) {
		t.Fatalf("%v, want ErrUnavailable", err)
	}
}

func TestTraceparentHeaderStartsTheTrace(t *testing.T) {
	h := http.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req, err := gcf.DecodeRequest([]byte(`{"fusionize":1,"task":"echo"}`), h)
	if err != nil {
		t.Fatal(err)
	}
	// The outside caller's span is the OpenTelemetry parent, not a task's
	// span: the call stays an entry (no fusionize parent).
	if c := req.Call(); c.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || c.SpanParent != 0x00f067aa0ba902b7 || c.ParentID != 0 {
		t.Fatalf("trace %q span parent %x parent %x", c.TraceID, c.SpanParent, c.ParentID)
	}
}

func TestGroupThatDoesNotLoadAnswersWithTheLoadError(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(gcf.EnvSourceDir, dir)
	srv := httptest.NewServer(gcf.Start(gcf.Options{Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	tr := https.New(https.Options{})
	_, err := tr.Ping(t.Context(), srv.URL)
	if !errors.Is(err, host.ErrUnavailable) || !strings.Contains(err.Error(), gcf.ConfigFile) {
		t.Fatalf("Ping: %v, want ErrUnavailable naming %s", err, gcf.ConfigFile)
	}
}

func TestCloseDrainsTheCallInFlight(t *testing.T) {
	fn, err := gcf.Load(context.Background(), gcf.Options{SourceDir: writeSource(t, "back", nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fn.Handler)
	defer srv.Close()
	tr := https.New(https.Options{})
	defer tr.Close()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := tr.Call(ctx, srv.URL, host.Call{Task: "loop"})
		done <- err
	}()
	for fn.Host.Quiet(0) {
		time.Sleep(time.Millisecond) // until the call runs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !fn.Host.Quiet(0) {
		t.Fatal("Close returned with a call still running")
	}
	if err := <-done; !errors.Is(err, host.ErrDeadline) {
		t.Fatalf("the drained call: %v, want ErrDeadline", err)
	}
}
