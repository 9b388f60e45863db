package gcf

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestFrontReusesConnectionsAndNoticesClosedOnes(t *testing.T) {
	var served, opened atomic.Int32
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		_, _ = w.Write([]byte("ok " + r.Method))
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	var cs conns
	defer cs.close()
	call := func(method string) string {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, body, err := cs.roundTrip(context.Background(), addr, req, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", method, resp.Status)
		}
		return string(body)
	}
	for range 3 {
		if got := call("POST"); got != "ok POST" {
			t.Fatalf("body %q", got)
		}
	}
	if opened.Load() != 1 {
		t.Fatalf("three calls in a row opened %d connections, want 1 kept alive", opened.Load())
	}
	ts.CloseClientConnections() // the instance drops its idle connections
	if got := call("POST"); got != "ok POST" {
		t.Fatalf("after the server closed the idle connection: body %q", got)
	}
	if opened.Load() != 2 || served.Load() != 4 {
		t.Fatalf("%d connections, %d requests served; want a new connection and each request served once", opened.Load(), served.Load())
	}
}
