package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

func TestRemoteCallMatchesFusedCall(t *testing.T) {
	p := newPair(t, host.Config{}, host.Config{})
	fused := newHost(t, host.Config{Name: "fused", Group: "all"}, map[string]string{"caller": wat("caller"), "echo": wat("echo")})
	ctx := context.Background()
	in := bytes.Repeat([]byte("remote "), 150)
	want, err := fused.Invoke(ctx, "caller", in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.a.Invoke(ctx, "caller", in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("remote result %q differs from fused %q", got, want)
	}
	if n := p.a.Stats().RemoteCalls; n != 1 {
		t.Errorf("host a made %d remote calls, want 1", n)
	}

	spansA, spansB := p.recA.Drain(), p.recB.Drain()
	if len(spansA) != 1 || len(spansB) != 1 {
		t.Fatalf("spans: a %+v, b %+v; want one each", spansA, spansB)
	}
	a, b := spansA[0], spansB[0]
	if a.Task != "caller" || a.Remote || a.Caller != "" || a.Host != "host-a" {
		t.Errorf("span on a: %+v", a)
	}
	if b.Task != "echo" || !b.Remote || b.Caller != "caller" || b.Host != "host-b" || b.Group != "b" || b.SetupVersion != 7 {
		t.Errorf("span on b: %+v", b)
	}
	if b.TraceID == "" || b.TraceID != a.TraceID {
		t.Errorf("trace ids differ: a %q, b %q", a.TraceID, b.TraceID)
	}
	if b.ParentID != a.ID {
		t.Errorf("b's parent span %x is not a's span %x", b.ParentID, a.ID)
	}
	if b.Err != "" || a.Err != "" {
		t.Errorf("errors in spans: %q %q", a.Err, b.Err)
	}
}

func TestCallDepthCrossesHosts(t *testing.T) {
	// relay as task "a" on host A and as task "b" on host B: a("ab") calls
	// b("ba") calls a("ab") … across the two hosts until the depth limit.
	sep := setup.Separate(1, []string{"a", "b"}, setup.Place{Provider: "local"}, 128)
	to := addrs{}
	tr := newTransport(t, grpctransport.Options{}, to)
	recB := span.NewBuffer(100)
	hosts := map[string]*host.Host{}
	for _, g := range []string{"a", "b"} {
		cfg := host.Config{Name: "host-" + g, Group: g, MaxDepth: 4, Transport: tr, Endpoints: tr.eps}
		if g == "b" {
			cfg.Recorder = recB
		}
		h := newHost(t, cfg, map[string]string{g: wat("relay")})
		if err := h.SetSetup(sep); err != nil {
			t.Fatal(err)
		}
		_, to[g] = serve(t, h, server.Options{})
		hosts[g] = h
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := hosts["a"].Invoke(ctx, "a", []byte("ab"))
	if err == nil || !strings.Contains(err.Error(), "exceeds the maximum call depth of 4") {
		t.Fatalf("got %v, want a depth error", err)
	}
	if errors.Is(err, host.ErrDeadline) {
		t.Fatalf("the cycle ran into the deadline instead of the depth limit: %v", err)
	}
	// Depth 0 (a on A), 1 (b on B), 2 (a), 3 (b), 4 (a); the call to b at
	// depth 5 is refused on A.
	spans := recB.Drain()
	if len(spans) != 2 {
		t.Fatalf("host b recorded %d spans, want 2: %+v", len(spans), spans)
	}
	for _, s := range spans {
		if !s.Remote || s.Caller != "a" || s.Task != "b" {
			t.Errorf("span on b: %+v", s)
		}
	}
}

// statusHost serves the tasks of the status tests: echo, loop, trap.
func statusHost(t *testing.T) (*host.Host, string, *routed) {
	h := newHost(t, host.Config{Name: "host-s", Group: "s", MaxPayload: 64 << 10, MaxAsync: 1, Timeout: 300 * time.Millisecond},
		map[string]string{"echo": wat("echo"), "loop": wat("loop"), "trap": wat("trap")})
	_, addr := serve(t, h, server.Options{MaxPayload: 64 << 10})
	// The transport's own limits are larger, to let the server refuse.
	tr := newTransport(t, grpctransport.Options{MaxPayload: 1 << 20}, addrs{"s": addr})
	return h, addr, tr
}

func TestStatusCodesSurviveTheTrip(t *testing.T) {
	h, addr, tr := statusHost(t)
	cases := []struct {
		name     string
		call     host.Call
		timeout  time.Duration
		code     host.Code
		contains []string
	}{
		{"unknown task", host.Call{Task: "nope"}, 0, host.CodeUnknownTask, []string{`task "nope"`, "host-s", addr}},
		{"input over the host's limit", host.Call{Task: "echo", Input: make([]byte, 65<<10)}, 0, host.CodeTooLarge, []string{`task "echo"`, "payload limit of 65536 bytes"}},
		{"message over the server's gRPC limit", host.Call{Task: "echo", Input: make([]byte, 512<<10)}, 0, host.CodeTooLarge, []string{`task "echo"`, addr}},
		{"guest loop past the client's deadline", host.Call{Task: "loop"}, 100 * time.Millisecond, host.CodeDeadline, []string{`task "loop"`}},
		{"trap", host.Call{Task: "trap", Caller: "test"}, 0, host.CodeFailed, []string{`task "trap"`, "host-s", "unreachable"}},
		{"depth over the limit", host.Call{Task: "echo", Caller: "test", Depth: 33}, 0, host.CodeDepth, []string{"maximum call depth of 32"}},
		{"negative depth", host.Call{Task: "echo", Depth: -1}, 0, host.CodeBadArgument, []string{"negative call depth"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			_, err := tr.Call(ctx, "s", tc.call)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			checkErr(t, err, tc.code, tc.contains...)
		})
	}
	t.Run("too many async calls", func(t *testing.T) {
		// MaxAsync is 1: the first async loop is accepted, the second
		// refused with the exact code, not just ResourceExhausted.
		if _, err := tr.Call(context.Background(), "s", host.Call{Task: "loop", Async: true}); err != nil {
			t.Fatal(err)
		}
		_, err := tr.Call(context.Background(), "s", host.Call{Task: "loop", Async: true})
		checkErr(t, err, host.CodeTooMany, "more than 1 async calls")
	})
	if s := h.Stats(); s.Traps != 1 || s.Deadlines < 1 {
		t.Errorf("stats %+v", s)
	}
}

func checkErr(t *testing.T, err error, code host.Code, contains ...string) {
	t.Helper()
	var he *host.Error
	if !errors.As(err, &he) {
		t.Fatalf("got %v (%T), want a *host.Error", err, err)
	}
	if he.Code != code {
		t.Errorf("code %d, want %d: %v", he.Code, code, err)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestServerMapsCodesAtTheEdge(t *testing.T) {
	_, addr, _ := statusHost(t)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := fusionizev1.NewHostServiceClient(cc)
	cases := []struct {
		task string
		code codes.Code
		host host.Code
	}{
		{"nope", codes.NotFound, host.CodeUnknownTask},
		{"trap", codes.Aborted, host.CodeFailed},
	}
	for _, tc := range cases {
		var trailer metadata.MD
		_, err := client.Invoke(context.Background(), &fusionizev1.InvokeRequest{Task: tc.task}, grpc.Trailer(&trailer))
		if status.Code(err) != tc.code {
			t.Errorf("%s: status %v, want %v", tc.task, err, tc.code)
		}
		if got := trailer.Get(grpctransport.MDCode); len(got) != 1 || got[0] != fmt.Sprint(int(tc.host)) {
			t.Errorf("%s: trailer %s = %q, want %d", tc.task, grpctransport.MDCode, got, tc.host)
		}
	}
	// Every host code maps to a gRPC code that maps back to a code of the
	// same family; the exact code travels in the trailer and details.
	for c := host.CodeNotFound; c <= host.CodeUnknownTask; c++ {
		g := grpctransport.GRPCCode(c)
		if g == codes.OK || g == codes.Unknown {
			t.Errorf("host code %d maps to %v", c, g)
		}
	}
}

func TestDeadHostIsUnavailableQuickly(t *testing.T) {
	t.Run("nothing listens", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		lis.Close()
		tr := newTransport(t, grpctransport.Options{}, addrs{"b": addr})
		start := time.Now()
		_, err = tr.Call(context.Background(), "b", host.Call{Task: "echo"})
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %v, want the retry budget (~60 ms)", d)
		}
		checkErr(t, err, host.CodeUnavailable, `task "echo"`, addr, `group "b" unavailable`)
	})
	t.Run("server stopped", func(t *testing.T) {
		h := newHost(t, host.Config{Name: "host-b"}, map[string]string{"echo": wat("echo")})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		s, err := server.New(h, server.Options{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(lis) }()
		tr := newTransport(t, grpctransport.Options{}, addrs{"b": addr})
		if out, err := tr.Call(context.Background(), "b", host.Call{Task: "echo", Input: []byte("up")}); err != nil || string(out) != "up" {
			t.Fatalf("before stop: %q %v", out, err)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = tr.Call(context.Background(), "b", host.Call{Task: "echo"})
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %v", d)
		}
		checkErr(t, err, host.CodeUnavailable, `task "echo"`, addr)
	})
	t.Run("no endpoint for the group", func(t *testing.T) {
		tr := newTransport(t, grpctransport.Options{}, addrs{})
		_, err := tr.Call(context.Background(), "zz", host.Call{Task: "echo"})
		checkErr(t, err, host.CodeUnavailable, `task "echo"`, `no endpoint recorded for group "zz"`)
	})
	t.Run("retries stop at the caller's deadline", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		lis.Close()
		tr := newTransport(t, grpctransport.Options{}, addrs{"b": addr})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = tr.Call(ctx, "b", host.Call{Task: "echo"})
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("took %v with a 5 ms deadline", d)
		}
		if c := host.CodeOf(err); c != host.CodeUnavailable && c != host.CodeDeadline {
			t.Errorf("got %v", err)
		}
	})
}

func TestRetryReachesAHostThatComesUp(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprint("async=", async), func(t *testing.T) {
			h := newHost(t, host.Config{Name: "host-b"}, map[string]string{"echo": wat("echo")})
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := lis.Addr().String()
			lis.Close()
			up := make(chan struct{})
			go func() {
				defer close(up)
				time.Sleep(15 * time.Millisecond)
				lis, err := net.Listen("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				serveOn(t, h, server.Options{}, lis)
			}()
			tr := newTransport(t, grpctransport.Options{}, addrs{"b": addr})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			out, err := tr.Call(ctx, "b", host.Call{Task: "echo", Input: []byte("late"), Async: async})
			<-up
			if err != nil {
				t.Fatal(err)
			}
			if !async && string(out) != "late" {
				t.Fatalf("got %q", out)
			}
		})
	}
}

// countingServer answers every Invoke with Unavailable, as a host does
// while shutting down, and counts the calls.
type countingServer struct {
	fusionizev1.UnimplementedHostServiceServer
	calls atomic.Int64
}

func (s *countingServer) Invoke(context.Context, *fusionizev1.InvokeRequest) (*fusionizev1.InvokeResponse, error) {
	s.calls.Add(1)
	return nil, status.Error(codes.Unavailable, "host is shutting down")
}

func TestHandlerErrorsAreNotRetried(t *testing.T) {
	t.Run("unavailable from the handler", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cs := &countingServer{}
		gs := grpc.NewServer()
		fusionizev1.RegisterHostServiceServer(gs, cs)
		go func() { _ = gs.Serve(lis) }()
		t.Cleanup(gs.Stop)
		tr := newTransport(t, grpctransport.Options{}, addrs{"b": lis.Addr().String()})
		_, err = tr.Call(context.Background(), "b", host.Call{Task: "echo"})
		checkErr(t, err, host.CodeUnavailable, "shutting down")
		if n := cs.calls.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
	})
	t.Run("trap", func(t *testing.T) {
		h := newHost(t, host.Config{Name: "host-b"}, map[string]string{"trap": wat("trap")})
		_, addr := serve(t, h, server.Options{})
		tr := newTransport(t, grpctransport.Options{}, addrs{"b": addr})
		_, err := tr.Call(context.Background(), "b", host.Call{Task: "trap"})
		checkErr(t, err, host.CodeFailed, "unreachable")
		if n := h.Stats().Invocations; n != 1 {
			t.Fatalf("trap ran %d times, want 1", n)
		}
	})
}

const (
	traceA = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceB = "0af7651916cd43dd8448eb211c80319c"
)

func TestMetadataWinsAndMarksRemoteCalls(t *testing.T) {
	rec := span.NewBuffer(10)
	h := newHost(t, host.Config{Name: "host-b", Recorder: rec}, map[string]string{"echo": wat("echo")})
	_, addr := serve(t, h, server.Options{})
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := fusionizev1.NewHostServiceClient(cc)
	ctx := metadata.AppendToOutgoingContext(context.Background(),
		grpctransport.MDTraceparent, "00-"+traceA+"-00f067aa0ba902b7-01",
		grpctransport.MDParentSpan, "42", grpctransport.MDCaller, "md-caller", grpctransport.MDDepth, "3")
	resp, err := client.Invoke(ctx, &fusionizev1.InvokeRequest{Task: "echo", TraceId: traceB, Caller: "field-caller", Depth: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A client request: no caller, so not remote; its trace id is kept.
	resp2, err := client.Invoke(context.Background(), &fusionizev1.InvokeRequest{Task: "echo", TraceId: traceB})
	if err != nil {
		t.Fatal(err)
	}
	// Neither a trace id of another form nor a malformed traceparent is an
	// error: the call starts a new trace.
	ctx = metadata.AppendToOutgoingContext(context.Background(), grpctransport.MDTraceparent, "00-"+traceA+"-0000000000000000-01")
	resp3, err := client.Invoke(ctx, &fusionizev1.InvokeRequest{Task: "echo", TraceId: "client-trace"})
	if err != nil {
		t.Fatal(err)
	}
	spans := rec.Drain()
	if len(spans) != 3 {
		t.Fatalf("spans %+v", spans)
	}
	if s := spans[0]; s.TraceID != traceA || s.ParentID != 42 || s.Caller != "md-caller" || !s.Remote {
		t.Errorf("span of the host call: %+v", s)
	}
	if s := spans[1]; s.TraceID != traceB || s.Caller != "" || s.Remote {
		t.Errorf("span of the client request: %+v", s)
	}
	if s := spans[2]; !host.ValidTraceID(s.TraceID) || s.TraceID == traceA || s.TraceID == traceB {
		t.Errorf("span of the call with a malformed trace context: %+v, want a new trace", s)
	}
	for i, r := range []*fusionizev1.InvokeResponse{resp, resp2, resp3} {
		if r.GetTraceId() != spans[i].TraceID || r.GetSpanId() != spans[i].ID || r.GetSpanId() == 0 {
			t.Errorf("response %d has trace %q span %x; its span %+v", i, r.GetTraceId(), r.GetSpanId(), spans[i])
		}
	}
}

func TestHealth(t *testing.T) {
	p := newPair(t, host.Config{}, host.Config{})
	cc, err := grpc.NewClient(p.addrB, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	resp, err := fusionizev1.NewHostServiceClient(cc).Health(context.Background(), &fusionizev1.HealthRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus() != fusionizev1.ServingStatus_SERVING_STATUS_SERVING || resp.GetHost() != "host-b" || resp.GetGroup() != "b" ||
		resp.GetSetupVersion() != 7 || strings.Join(resp.GetTasks(), ",") != "echo" || resp.GetInflight() != 0 {
		t.Fatalf("health %v", resp)
	}
	p.b.Drain()
	resp, err = p.srvB.Health(context.Background(), &fusionizev1.HealthRequest{})
	if err != nil || resp.GetStatus() != fusionizev1.ServingStatus_SERVING_STATUS_DRAINING || p.srvB.Serving() {
		t.Fatalf("draining host: %v %v", resp, err)
	}
	if err := p.srvB.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err = p.srvB.Health(context.Background(), &fusionizev1.HealthRequest{})
	if err != nil || resp.GetStatus() != fusionizev1.ServingStatus_SERVING_STATUS_NOT_SERVING {
		t.Fatalf("after shutdown: %v %v", resp, err)
	}
}

func TestREST(t *testing.T) {
	t.Run("through gRPC", func(t *testing.T) { testREST(t, false) })
	t.Run("in process", func(t *testing.T) { testREST(t, true) })
}

func testREST(t *testing.T, inProcess bool) {
	rec := span.NewBuffer(10)
	h := newHost(t, host.Config{Name: "host-b", Group: "b", Recorder: rec}, map[string]string{"echo": wat("echo"), "trap": wat("trap")})
	s, addr := serve(t, h, server.Options{MaxPayload: 1 << 10, Overhead: 1 << 10})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if inProcess {
		addr = ""
	}
	handler, err := s.HTTPHandler(ctx, addr, server.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base, client := serveHTTP(t, handler)

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	body := fmt.Sprintf(`{"input":%q}`, base64.StdEncoding.EncodeToString([]byte("hello, rest")))
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/invoke/echo", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", "00-"+traceA+"-00f067aa0ba902b7-01")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Output  []byte
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(out.Output) != "hello, rest" {
		t.Fatalf("invoke: %d %q %v", resp.StatusCode, out.Output, err)
	}
	if spans := rec.Drain(); len(spans) != 1 || spans[0].TraceID != traceA || spans[0].Remote {
		t.Errorf("span of the REST call: %+v", spans)
	} else if out.TraceID != traceA || out.SpanID != strconv.FormatUint(spans[0].ID, 10) {
		t.Errorf("REST answer names trace %q span %q; the span is %+v", out.TraceID, out.SpanID, spans[0])
	}

	for task, want := range map[string]int{"nope": http.StatusNotFound, "trap": http.StatusConflict} {
		resp, err := client.Post(base+"/v1/invoke/"+task, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || !strings.Contains(string(b), fmt.Sprintf("task \\\"%s\\\"", task)) {
			t.Errorf("%s: %d %s", task, resp.StatusCode, b)
		}
	}

	// A body over twice the message limit is refused before it is read.
	resp, err = client.Post(base+"/v1/invoke/echo", "application/json", strings.NewReader(`{"input":"`+strings.Repeat("A", 8<<10)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 4 {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}

	if code, b := get("/v1/health"); code != http.StatusOK || !strings.Contains(b, `"SERVING_STATUS_SERVING"`) || !strings.Contains(b, `"host-b"`) {
		t.Errorf("health: %d %s", code, b)
	}
	if code, b := get("/healthz"); code != http.StatusOK || b != "ok\n" {
		t.Errorf("healthz: %d %q", code, b)
	}
	code, b := get("/metrics")
	for _, m := range []string{
		`fusionize_invocations_total{group="b",host="host-b",setup_version="0"} 2`,
		`fusionize_traps_total{group="b",host="host-b",setup_version="0"} 1`,
		`fusionize_instances{group="b",host="host-b",setup_version="0"}`,
		`fusionize_log_lines_dropped_total{group="b",host="host-b",setup_version="0"} 0`,
		`fusionize_request_duration_seconds_count{code="OK",group="b",host="host-b",setup_version="0",task="echo"} 1`,
		`fusionize_request_duration_seconds_count{code="NotFound",group="b",host="host-b",setup_version="0",task="-"} 1`,
		"\ngo_goroutines ",
		`process_resident_memory_bytes`,
	} {
		if code != http.StatusOK || !strings.Contains(b, m) {
			t.Errorf("metrics lack %s:\n%s", m, b)
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, b := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("healthz after shutdown: %d %q", code, b)
	}
}

func TestHammer(t *testing.T) {
	p := newPair(t, host.Config{PoolSize: 4}, host.Config{PoolSize: 4})
	const workers, calls = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				in := fmt.Appendf(nil, "worker %d call %d %s", w, i, strings.Repeat("p", i*37))
				var out []byte
				var err error
				if (w+i)%2 == 0 {
					out, err = p.a.Invoke(context.Background(), "caller", in)
				} else {
					out, err = p.tr.Call(context.Background(), "b", host.Call{Task: "echo", Input: in})
				}
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(out, in) {
					errs <- fmt.Errorf("got %q, want %q", out, in)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := p.b.Stats().Invocations; n != workers*calls {
		t.Errorf("host b ran %d invocations, want %d", n, workers*calls)
	}
}

func TestTransportClose(t *testing.T) {
	p := newPair(t, host.Config{}, host.Config{})
	if _, err := p.tr.Call(context.Background(), "b", host.Call{Task: "echo"}); err != nil {
		t.Fatal(err)
	}
	if err := p.tr.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := p.tr.Call(context.Background(), "b", host.Call{Task: "echo"})
	checkErr(t, err, host.CodeUnavailable, "transport closed")
}

// recordingServer records what one Invoke received.
type recordingServer struct {
	fusionizev1.UnimplementedHostServiceServer
	mu       sync.Mutex
	req      *fusionizev1.InvokeRequest
	md       metadata.MD
	deadline time.Duration // remaining at arrival; 0 without one
}

func (s *recordingServer) Invoke(ctx context.Context, req *fusionizev1.InvokeRequest) (*fusionizev1.InvokeResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.req = req
	s.md, _ = metadata.FromIncomingContext(ctx)
	if dl, ok := ctx.Deadline(); ok {
		s.deadline = time.Until(dl)
	}
	return &fusionizev1.InvokeResponse{Output: []byte("ok")}, nil
}

func TestTransportSendsDeadlineTraceAndDepth(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &recordingServer{}
	gs := grpc.NewServer()
	fusionizev1.RegisterHostServiceServer(gs, rs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	tr := newTransport(t, grpctransport.Options{}, addrs{"b": lis.Addr().String()})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := host.Call{Task: "echo", Input: []byte("in"), Caller: "caller", TraceID: traceA, ParentID: 99, Depth: 3, TraceState: "k=v"}
	if out, err := tr.Call(ctx, "b", c); err != nil || string(out) != "ok" {
		t.Fatalf("%q %v", out, err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.deadline <= time.Second || rs.deadline > 2*time.Second {
		t.Errorf("remaining deadline at the server: %v, want (1s, 2s]", rs.deadline)
	}
	for k, want := range map[string]string{grpctransport.MDTraceparent: "00-" + traceA + "-0000000000000063-01", grpctransport.MDTracestate: "k=v", grpctransport.MDParentSpan: "99", grpctransport.MDCaller: "caller", grpctransport.MDDepth: "3"} {
		if got := rs.md.Get(k); len(got) != 1 || got[0] != want {
			t.Errorf("metadata %s = %q, want %q", k, got, want)
		}
	}
	r := rs.req
	if r.GetTask() != "echo" || string(r.GetInput()) != "in" || r.GetCaller() != "caller" || r.GetTraceId() != traceA ||
		r.GetParentSpanId() != 99 || r.GetDepth() != 3 || r.GetAsync() {
		t.Errorf("request %v", r)
	}
}

func TestTLS(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	h := newHost(t, host.Config{Name: "host-b"}, map[string]string{"echo": wat("echo")})
	_, addr := serve(t, h, server.Options{TLS: serverTLS})
	tr := newTransport(t, grpctransport.Options{TLS: clientTLS}, addrs{"b": addr})
	if out, err := tr.Call(context.Background(), "b", host.Call{Task: "echo", Input: []byte("sealed")}); err != nil || string(out) != "sealed" {
		t.Fatalf("%q %v", out, err)
	}
	// A plaintext transport cannot talk to it, and fails as unavailable.
	plain := newTransport(t, grpctransport.Options{}, addrs{"b": addr})
	_, err := plain.Call(context.Background(), "b", host.Call{Task: "echo"})
	checkErr(t, err, host.CodeUnavailable, addr)
}

// selfSigned returns TLS configs of a server with a fresh certificate for
// 127.0.0.1 and of a client that trusts it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "host-b"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS13}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	return server, client
}
