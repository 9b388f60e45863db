package process_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/fusionize/fusionize/runtime/process"
)

// TestHostRegistersItsMetricsAddressAndExpositionsLintClean: a host
// process registers the address of its /metrics (what Prometheus
// discovers through the host list), it serves there, and the host's and
// the control plane's expositions pass Prometheus's lint and, when
// promtool is on PATH (scripts/install-promtool.sh; CI installs it and
// sets FUSIONIZE_REQUIRE_PROMTOOL, which makes its absence a failure),
// `promtool check metrics`.
func TestHostRegistersItsMetricsAddressAndExpositionsLintClean(t *testing.T) {
	cp, _, c, _, _ := startHost(t, process.Options{})
	waitFor(t, "registered host", func() bool { hs, _ := c.Hosts(t.Context()); return len(hs) == 1 })
	hs, err := c.Hosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if hs[0].MetricsAddress == "" || hs[0].MetricsAddress == hs[0].Address {
		t.Fatalf("host registered metrics address %q (gRPC %q), want its HTTP address", hs[0].MetricsAddress, hs[0].Address)
	}
	for name, addr := range map[string]string{"host": hs[0].MetricsAddress, "control plane": cp.HTTPAddr()} {
		body := scrape(t, "http://"+addr+"/metrics")
		if !strings.Contains(body, "fusionize_") {
			t.Errorf("%s /metrics has no fusionize_ series:\n%s", name, body)
		}
		problems, err := promlint.New(strings.NewReader(body)).Lint()
		if err != nil {
			t.Fatalf("%s /metrics: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s /metrics: lint: %s: %s", name, p.Metric, p.Text)
		}
		if bin, err := exec.LookPath("promtool"); err == nil {
			cmd := exec.CommandContext(t.Context(), bin, "check", "metrics")
			cmd.Stdin = bytes.NewReader([]byte(body))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s /metrics: promtool check metrics: %v\n%s", name, err, out)
			}
		} else if os.Getenv("FUSIONIZE_REQUIRE_PROMTOOL") != "" {
			t.Fatalf("FUSIONIZE_REQUIRE_PROMTOOL is set but promtool is not on PATH: run scripts/install-promtool.sh")
		} else {
			t.Logf("promtool not on PATH (scripts/install-promtool.sh): ran Prometheus's lint only")
		}
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	return string(b)
}
