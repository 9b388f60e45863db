package tracing_test

import (
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	"github.com/fusionize/fusionize/host/tracing"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/internal/otlpenv"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
	"github.com/fusionize/fusionize/runtime"
)

// receiver is an OTLP trace receiver: the collector's gRPC service, keeping
// what it is sent.
type receiver struct {
	collectortracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.ResourceSpans
}

func (r *receiver) Export(_ context.Context, req *collectortracepb.ExportTraceServiceRequest) (*collectortracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, req.GetResourceSpans()...)
	return &collectortracepb.ExportTraceServiceResponse{}, nil
}

// startReceiver serves a receiver on a loopback port and points the OTEL_*
// environment at it.
func startReceiver(t *testing.T) *receiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{}
	gs := grpc.NewServer()
	collectortracepb.RegisterTraceServiceServer(gs, rcv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+lis.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	return rcv
}

// exported is one span the receiver got, with its resource.
type exported struct {
	span     *tracepb.Span
	resource map[string]string
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			out[kv.GetKey()] = v.GetStringValue()
		case v.GetValue() == nil:
		default:
			s := strings.TrimPrefix(strings.TrimPrefix(v.String(), "int_value:"), "bool_value:")
			out[kv.GetKey()] = strings.TrimSpace(s)
		}
	}
	return out
}

func (r *receiver) all() []exported {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []exported
	for _, rs := range r.spans {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				out = append(out, exported{span: sp, resource: res})
			}
		}
	}
	return out
}

var hop = filepath.Join("..", "testdata", "hop.wasm")

// threeGroups splits the hop tasks a, b, c, d over three groups in three
// places: a→b is fused, b→c and c→d cross hosts.
func threeGroups() *setup.Setup {
	return &setup.Setup{Version: 3, Groups: []setup.Group{
		{Name: "g1", Tasks: []string{"a", "b"}, MemoryMB: 256, Place: setup.Place{Provider: "aws", Region: "us-east-1"}},
		{Name: "g2", Tasks: []string{"c"}, MemoryMB: 512, Place: setup.Place{Provider: "gcp", Region: "europe-west1"}},
		{Name: "g3", Tasks: []string{"d"}, MemoryMB: 128, Place: setup.Place{Provider: "local"}},
	}}
}

// startHosts runs a host per group of su (runtime.NewHost, as every runtime
// builds its host) behind a gRPC server on loopback, routing to each other
// through the gRPC transport; it returns the hosts by group and their
// addresses.
func startHosts(t *testing.T, su *setup.Setup) (map[string]*host.Host, map[string]string) {
	t.Helper()
	wasm, err := os.ReadFile(hop)
	if err != nil {
		t.Fatal(err)
	}
	mods := runtime.ModulesFunc(func(context.Context, string) ([]byte, string, error) { return wasm, "", nil })
	lis := map[string]net.Listener{}
	eps := api.Endpoints{}
	addrs := map[string]string{}
	for _, g := range su.Groups {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[g.Name], eps[g.Name], addrs[g.Name] = l, api.GRPC(l.Addr().String()), l.Addr().String()
	}
	hosts := map[string]*host.Host{}
	for _, g := range su.Groups {
		tr, err := grpctransport.NewTransport(grpctransport.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		h, err := runtime.NewHost(t.Context(), runtime.GroupConfig{
			App: "hops", Setup: su, Group: g.Name, Modules: mods,
			Endpoints: host.StaticEndpoints(eps), Transport: tr,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(h, server.Options{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(lis[g.Name]) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			<-done
			_ = h.Close(ctx)
		})
		hosts[g.Name] = h
	}
	return hosts, addrs
}

func TestOneRequestsTraceTreeAcrossThreeHostsArrivesAtTheOTLPReceiver(t *testing.T) {
	rcv := startReceiver(t)
	hosts, addrs := startHosts(t, threeGroups())

	cc, err := grpc.NewClient(addrs["g1"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	const (
		traceID    = "4bf92f3577b34da6a3ce929d0e0e4736"
		callerSpan = "00f067aa0ba902b7"
	)
	ctx := metadata.AppendToOutgoingContext(t.Context(),
		"traceparent", "00-"+traceID+"-"+callerSpan+"-01", "tracestate", "vendor=opaque")
	resp, err := fusionizev1.NewHostServiceClient(cc).Invoke(ctx, &fusionizev1.InvokeRequest{Task: "a", Input: []byte("bcd")})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.GetOutput()) != "." {
		t.Fatalf("output %q, want %q", resp.GetOutput(), ".")
	}
	if resp.GetTraceId() != traceID {
		t.Errorf("InvokeResponse trace id %q, want the caller's %q", resp.GetTraceId(), traceID)
	}
	// Closing the hosts (callee first) exports what their tracers hold.
	for _, g := range []string{"g3", "g2", "g1"} {
		if err := hosts[g].Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	got := rcv.all()
	type want struct {
		name, kind, group, trigger string
	}
	// Each span by (task, kind): the spans the request made, and where.
	wants := []want{
		{"a", "SPAN_KIND_SERVER", "g1", "other"},
		{"b", "SPAN_KIND_INTERNAL", "g1", "other"},
		{"c", "SPAN_KIND_CLIENT", "g1", ""},
		{"c", "SPAN_KIND_SERVER", "g2", "other"},
		{"d", "SPAN_KIND_CLIENT", "g2", ""},
		{"d", "SPAN_KIND_SERVER", "g3", "other"},
	}
	if len(got) != len(wants) {
		for _, e := range got {
			t.Logf("%s %s parent %x on %s", e.span.GetName(), e.span.GetKind(), e.span.GetParentSpanId(), e.resource["faas.name"])
		}
		t.Fatalf("receiver got %d spans, want %d", len(got), len(wants))
	}
	byID := map[string]exported{}
	find := func(w want) exported {
		for _, e := range got {
			if e.span.GetName() == w.name && e.span.GetKind().String() == w.kind && e.resource["faas.name"] == w.group {
				return e
			}
		}
		t.Fatalf("no span %+v", w)
		return exported{}
	}
	for _, e := range got {
		if tid := hex.EncodeToString(e.span.GetTraceId()); tid != traceID {
			t.Errorf("span %s has trace %s, want %s", e.span.GetName(), tid, traceID)
		}
		byID[hex.EncodeToString(e.span.GetSpanId())] = e
		if e.span.GetTraceState() != "vendor=opaque" {
			t.Errorf("span %s %s: tracestate %q", e.span.GetName(), e.span.GetKind(), e.span.GetTraceState())
		}
	}
	// A tree: every parent is a span of the trace, but the entry's, which
	// is the caller's span.
	for _, e := range got {
		p := hex.EncodeToString(e.span.GetParentSpanId())
		if _, ok := byID[p]; !ok && !(e.span.GetName() == "a" && p == callerSpan) {
			t.Errorf("span %s %s: parent %s not in the trace", e.span.GetName(), e.span.GetKind(), p)
		}
	}
	parentOf := func(e exported) exported { return byID[hex.EncodeToString(e.span.GetParentSpanId())] }
	for i, w := range wants {
		e := find(w)
		a := attrs(e.span.GetAttributes())
		if a["faas.invoked_name"] != w.name {
			t.Errorf("%+v: faas.invoked_name %q", w, a["faas.invoked_name"])
		}
		if w.trigger != "" && (a["faas.trigger"] != w.trigger || a["faas.coldstart"] != "true") {
			t.Errorf("%+v: faas.trigger %q faas.coldstart %q, want %q and true (first request)", w, a["faas.trigger"], a["faas.coldstart"], w.trigger)
		}
		if i > 0 {
			if p := parentOf(e); p.span == nil || p.span.GetName() != wants[i-1].name || p.span.GetKind().String() != wants[i-1].kind {
				t.Errorf("%+v: parent is %v, want %+v", w, p.span, wants[i-1])
			}
		}
	}
	a := find(wants[0])
	if id := hex.EncodeToString(a.span.GetSpanId()); id != hex.EncodeToString(binary8(resp.GetSpanId())) {
		t.Errorf("InvokeResponse span id %016x, the entry span is %s", resp.GetSpanId(), id)
	}
	if c := attrs(find(wants[2]).span.GetAttributes()); c["faas.invoked_provider"] != "gcp" || c["faas.invoked_region"] != "europe-west1" {
		t.Errorf("client span to g2: %v, want faas.invoked_provider gcp, faas.invoked_region europe-west1", c)
	}
	for group, res := range map[string]map[string]string{
		"g1": {"service.name": "hops", "cloud.provider": "aws", "cloud.region": "us-east-1", "faas.max_memory": "268435456", "faas.version": "3"},
		"g2": {"cloud.provider": "gcp", "cloud.region": "europe-west1", "faas.max_memory": "536870912"},
		"g3": {"cloud.provider": "", "faas.max_memory": "134217728"},
	} {
		got := find(want{name: map[string]string{"g1": "a", "g2": "c", "g3": "d"}[group], kind: "SPAN_KIND_SERVER", group: group}).resource
		for k, v := range res {
			if got[k] != v {
				t.Errorf("resource of %s: %s = %q, want %q", group, k, got[k], v)
			}
		}
	}
}

func binary8(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

func TestNoEndpointNoTracer(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tr, err := tracing.FromEnv(t.Context(), tracing.Options{App: "x", Group: "g"})
	if err != nil || tr != nil {
		t.Fatalf("FromEnv without an endpoint = %v, %v; want nil, nil", tr, err)
	}
	if tp, err := otlpenv.Provider(t.Context(), "x", nil); err != nil || tp != nil {
		t.Fatalf("Provider without an endpoint = %v, %v; want nil, nil", tp, err)
	}
	for k, v := range map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "none"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
			t.Setenv(k, v)
			if tr, err := tracing.FromEnv(t.Context(), tracing.Options{}); err != nil || tr != nil {
				t.Fatalf("FromEnv with %s=%s = %v, %v; want nil, nil", k, v, tr, err)
			}
		})
	}
}

func TestUnknownProtocolIsAnErrorNamingTheVariable(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	_, err := tracing.FromEnv(t.Context(), tracing.Options{})
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") || !strings.Contains(err.Error(), "http/json") {
		t.Fatalf("err = %v, want one naming OTEL_EXPORTER_OTLP_PROTOCOL and its value", err)
	}
}

func TestUnsampledCallersTraceIsNotExportedButRuns(t *testing.T) {
	rcv := startReceiver(t)
	hosts, addrs := startHosts(t, threeGroups())
	cc, err := grpc.NewClient(addrs["g3"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	if _, err := fusionizev1.NewHostServiceClient(cc).Invoke(ctx, &fusionizev1.InvokeRequest{Task: "d"}); err != nil {
		t.Fatal(err)
	}
	if err := hosts["g3"].Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rcv.all(); len(got) != 0 {
		t.Fatalf("exported %d spans of an unsampled trace", len(got))
	}
	if hosts["g3"].Stats().Invocations != 1 {
		t.Fatalf("invocations %d, want 1", hosts["g3"].Stats().Invocations)
	}
}
