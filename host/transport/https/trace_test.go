package https_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/https"
	"github.com/fusionize/fusionize/host/transport/wire"
)

func TestCallSendsTheW3CTraceContext(t *testing.T) {
	var tp, ts string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tp, ts = r.Header.Get("traceparent"), r.Header.Get("tracestate")
		_ = json.NewEncoder(w).Encode(wire.Response{Output: []byte("ok")})
	}))
	defer srv.Close()
	c := host.Call{Task: "echo", Caller: "A", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", ParentID: 7, SpanParent: 0x00f067aa0ba902b7, TraceState: "vendor=opaque"}
	if _, err := https.New(https.Options{}).Call(t.Context(), srv.URL, c); err != nil {
		t.Fatal(err)
	}
	if tp != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" || ts != "vendor=opaque" {
		t.Fatalf("traceparent %q tracestate %q", tp, ts)
	}
}

func TestClientRequestNamesItsTraceInCloudRunsHeader(t *testing.T) {
	// A client's request has a trace and no parent span, so no traceparent;
	// X-Cloud-Trace-Context names the trace for Cloud Run's request log.
	var tp, xc string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tp, xc = r.Header.Get("traceparent"), r.Header.Get("X-Cloud-Trace-Context")
		_ = json.NewEncoder(w).Encode(wire.Response{Output: []byte("ok")})
	}))
	defer srv.Close()
	c := host.Call{Task: "echo", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
	if _, err := https.New(https.Options{}).Call(t.Context(), srv.URL, c); err != nil {
		t.Fatal(err)
	}
	if tp != "" || xc != "4bf92f3577b34da6a3ce929d0e0e4736;o=1" {
		t.Fatalf("traceparent %q X-Cloud-Trace-Context %q", tp, xc)
	}
}
