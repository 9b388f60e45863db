package server

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"testing"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

type otlpReceiver struct {
	collectortracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (r *otlpReceiver) Export(_ context.Context, req *collectortracepb.ExportTraceServiceRequest) (*collectortracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	return &collectortracepb.ExportTraceServiceResponse{}, nil
}

func TestRPCServerSpansGoToTheOTLPEndpointWhenOneIsConfigured(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv := &otlpReceiver{}
	gs := grpc.NewServer()
	collectortracepb.RegisterTraceServiceServer(gs, rcv)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"+lis.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")

	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if _, err := c.Modules(ctx); err != nil {
		t.Fatal(err)
	}
	cp.stop() // Close shuts the tracer provider down: it exports

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, sp := range rcv.spans {
		if sp.GetKind() == tracepb.Span_SPAN_KIND_SERVER && hex.EncodeToString(sp.GetTraceId()) == traceID &&
			hex.EncodeToString(sp.GetParentSpanId()) == "00f067aa0ba902b7" {
			return
		}
	}
	t.Fatalf("no server span in the caller's trace among %d spans: %v", len(rcv.spans), rcv.spans)
}

func TestNoOTLPEndpointNoTracer(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	if cp := startCP(t, t.TempDir()); cp.tracer != nil {
		t.Fatal("a tracer provider without an endpoint")
	}
}
