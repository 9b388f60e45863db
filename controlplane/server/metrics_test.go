package server

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/fusionize/fusionize/controlplane/client"
)

// scrape returns the control plane's /metrics.
func scrape(t *testing.T, cp *testCP) []byte {
	t.Helper()
	resp, err := http.Get("http://" + cp.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d, %v", resp.StatusCode, err)
	}
	return body
}

// lintMetrics fails t if the exposition text has problems by Prometheus's
// own lint (the rules of promtool check metrics), and also runs promtool
// on it when promtool is on PATH.
func lintMetrics(t *testing.T, body []byte) {
	t.Helper()
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if bin, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.CommandContext(t.Context(), bin, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
}

func TestMetricsTimeRPCsAndLintClean(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	if _, err := c.Status(t.Context()); err != nil {
		t.Fatal(err)
	}
	bad, err := client.Dial(t.Context(), cp.Addr(), strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Status(t.Context()); err == nil {
		t.Fatal("Status with a wrong token succeeded")
	}
	body := scrape(t, cp)
	for _, want := range []string{
		`fusionize_controlplane_rpc_duration_seconds_count{code="OK",method="/fusionize.v1.ControlPlaneService/Status"} 1`,
		`fusionize_controlplane_rpc_duration_seconds_count{code="Unauthenticated",method="/fusionize.v1.ControlPlaneService/Status"} 1`,
		`fusionize_controlplane_rpc_duration_seconds_bucket{code="OK",method="/fusionize.v1.ControlPlaneService/Status",le="+Inf"} 1`,
		`fusionize_controlplane_rpcs_total{code="OK",method="/fusionize.v1.ControlPlaneService/Status"} 1`,
		"\ngo_goroutines ",
		"\nprocess_resident_memory_bytes ",
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	lintMetrics(t, body)
}
