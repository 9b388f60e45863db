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

// headersSent calls a server with c and returns the request headers it got.
func headersSent(t *testing.T, c host.Call) http.Header {
	t.Helper()
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_ = json.NewEncoder(w).Encode(wire.Response{Output: []byte("ok")})
	}))
	defer srv.Close()
	if _, err := https.New(https.Options{}).Call(t.Context(), srv.URL, c); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCallSendsTheW3CTraceContext(t *testing.T) {
	h := headersSent(t, host.Call{Task: "echo", Caller: "A", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", ParentID: 7, SpanParent: 0x00f067aa0ba902b7, TraceState: "vendor=opaque"})
	if tp, ts := h.Get("traceparent"), h.Get("tracestate"); tp != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" || ts != "vendor=opaque" {
		t.Fatalf("traceparent %q tracestate %q", tp, ts)
	}
}

func TestClientRequestNamesItsTraceInCloudRunsHeader(t *testing.T) {
	// A client's request has a trace and no parent span, so no traceparent;
	// X-Cloud-Trace-Context names the trace for Cloud Run's request log.
	h := headersSent(t, host.Call{Task: "echo", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"})
	if tp, xc := h.Get("traceparent"), h.Get("X-Cloud-Trace-Context"); tp != "" || xc != "4bf92f3577b34da6a3ce929d0e0e4736;o=1" {
		t.Fatalf("traceparent %q X-Cloud-Trace-Context %q", tp, xc)
	}
}
