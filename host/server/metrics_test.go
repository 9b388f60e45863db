package server_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
)

// scrapeHost returns what /metrics of s serves.
func scrapeHost(t *testing.T, s *server.Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	handler, err := s.HTTPHandler(ctx, "", server.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base, client := serveHTTP(t, handler)
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lintMetrics fails t on any problem Prometheus's lint (the rules of
// promtool check metrics) finds in the exposition text, and runs promtool
// itself on it when promtool is on PATH (required when
// FUSIONIZE_REQUIRE_PROMTOOL is set, as CI sets it).
func lintMetrics(t *testing.T, body string) {
	t.Helper()
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if bin, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.CommandContext(t.Context(), bin, "check", "metrics")
		cmd.Stdin = bytes.NewReader([]byte(body))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else if os.Getenv("FUSIONIZE_REQUIRE_PROMTOOL") != "" {
		t.Fatalf("FUSIONIZE_REQUIRE_PROMTOOL is set but promtool is not on PATH: run scripts/install-promtool.sh")
	}
}

// TestMetricsTimeRemoteCallsPerTransportAndLabelTheVersionApart: the host
// of a caller times the calls its mux sends, per transport and outcome;
// every series carries setup_version as its own label, so a new version
// changes a label value, not the host label; the Go and process collectors
// are there; the whole exposition lints clean.
func TestMetricsTimeRemoteCallsPerTransportAndLabelTheVersionApart(t *testing.T) {
	hb := newHost(t, host.Config{Name: "b@v7", Group: "b"}, map[string]string{"echo": wat("echo")})
	_, addrB := serve(t, hb, server.Options{HostLabel: "b"})
	gt, err := grpctransport.NewTransport(grpctransport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := transport.NewMux()
	mux.Register(api.KindGRPC, gt)
	t.Cleanup(func() { _ = mux.Close() })
	eps := endpointsOf(addrs{"b": addrB})
	ha := newHost(t, host.Config{Name: "a@v7", Group: "a", Transport: mux, Endpoints: eps}, map[string]string{"caller": wat("caller")})
	srvA, _ := serve(t, ha, server.Options{HostLabel: "a"})
	mux.Observe(srvA.ObserveRemoteCall)
	for _, h := range []*host.Host{ha, hb} {
		if err := h.SetSetup(twoGroups()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		if _, err := ha.Invoke(ctx, "caller", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// A version whose group b has moved to a dead address: the call fails
	// as unavailable and is recorded under the new version.
	next := twoGroups()
	next.Version = 8
	if err := ha.SetSetup(next); err != nil {
		t.Fatal(err)
	}
	eps.to["b"] = "127.0.0.1:1"
	if _, err := ha.Invoke(ctx, "caller", []byte("x")); err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("call through a dead host: %v, want its unavailability", err)
	}

	body := scrapeHost(t, srvA)
	for _, want := range []string{
		`fusionize_remote_call_duration_seconds_count{code="OK",group="a",host="a",setup_version="7",transport="grpc"} 3`,
		`fusionize_remote_call_duration_seconds_count{code="UNAVAILABLE",group="a",host="a",setup_version="8",transport="grpc"} 1`,
		`fusionize_remote_call_duration_seconds_bucket{code="OK",group="a",host="a",setup_version="7",transport="grpc",le="+Inf"} 3`,
		`fusionize_invocations_total{group="a",host="a",setup_version="8"} 4`,
		"\ngo_goroutines ",
		"\ngo_memstats_heap_alloc_bytes ",
		"\nprocess_resident_memory_bytes ",
		"\nprocess_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `host="a@v`) {
		t.Errorf("the host label carries the setup version:\n%s", body)
	}
	lintMetrics(t, body)
}

// metricValue returns the value of the one series of name in an
// exposition body, "" when it has none.
func metricValue(body, name string) string {
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			return f[len(f)-1]
		}
	}
	return ""
}

// TestColdStartsCountFirstRequestsOfNewInstancesNotInstancesCreated pins
// what fusionize_cold_starts_total counts: invocations that were a new
// instance's first request, as spans mark them cold. The instance a host
// creates at load is not a cold start until it serves; reusing a pooled
// instance is not one; the instance that replaces one discarded after a
// trap is, on its first request. fusionize_instances_created_total counts
// instances, served or not.
func TestColdStartsCountFirstRequestsOfNewInstancesNotInstancesCreated(t *testing.T) {
	h := newHost(t, host.Config{Name: "g@v1", Group: "g"}, map[string]string{"echo": wat("echo"), "trap": wat("trap")})
	srv, _ := serve(t, h, server.Options{HostLabel: "g"})
	check := func(when, cold, created string) {
		t.Helper()
		body := scrapeHost(t, srv)
		if got := metricValue(body, "fusionize_cold_starts_total"); got != cold {
			t.Errorf("%s: fusionize_cold_starts_total = %s, want %s", when, got, cold)
		}
		if got := metricValue(body, "fusionize_instances_created_total"); got != created {
			t.Errorf("%s: fusionize_instances_created_total = %s, want %s", when, got, created)
		}
		lintMetrics(t, body)
	}
	check("after load (one instance per task, none has served)", "0", "2")
	ctx := t.Context()
	for range 3 {
		if _, err := h.Invoke(ctx, "echo", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	check("after three sequential echo requests (one instance, reused)", "1", "2")
	for range 2 {
		if _, err := h.Invoke(ctx, "trap", nil); err == nil {
			t.Fatal("trap did not trap")
		}
	}
	// The load instance of trap served (cold) and was discarded; its
	// replacement was created for the second request (cold again).
	check("after two trapping requests", "3", "3")
}
