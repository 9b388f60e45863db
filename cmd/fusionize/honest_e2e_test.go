package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemoOnTreeRecordsPredictionBesideMeasurement runs `fusionize demo` on
// the tree app on the emulated clouds with a short window and checks what
// the loop says about its own predictions: every deployment the model chose
// prints its prediction and the measurement's error, the costs come from
// the platform's reports, and the verdict is honest about the latency bound
// (p95 ≤ 100 ms): "converged" only on a setup that meets it, else it says
// that the setup is over the bound.
func TestDemoOnTreeRecordsPredictionBesideMeasurement(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tree app and the Lambda bootstrap, runs the loop on the emulators for minutes")
	}
	buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	data := t.TempDir()
	out, err := exec.CommandContext(ctx, binary, "--data-dir", data, "demo", filepath.Join("..", "..", "examples", "tree"),
		"--requests", "24", "--concurrency", "2", "--max-deployments", "3").CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, text)
	}
	t.Log(text)
	if strings.Contains(text, "cost from the spans") {
		t.Error("a window was priced from the spans: the platform's reports did not reach the loop")
	}
	if !strings.Contains(text, "PREDICTED P50 / P95 / $/M") {
		t.Fatal("the iteration table has no prediction column")
	}
	// Every model-chosen deployment that was measured prints its
	// prediction and the error.
	pred := regexp.MustCompile(`(?m)^\s+predicted ([0-9.]+) / ([0-9.]+) / ([0-9.]+) \(±([0-9]+)%\), error ([+-][0-9]+)% / ([+-][0-9]+)% / ([+-][0-9]+)%$`)
	ms := pred.FindAllStringSubmatch(text, -1)
	deployed := strings.Count(text, "(predicted ")
	if deployed > 0 && len(ms) == 0 {
		t.Fatalf("%d deployments with a prediction, none measured against it", deployed)
	}
	for _, m := range ms {
		for _, v := range m[1:] {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				t.Errorf("prediction line %q: %v", m[0], err)
			}
		}
		conf, _ := strconv.Atoi(m[4])
		e50, _ := strconv.Atoi(m[5])
		missed := strings.Contains(text, "missed:")
		if (e50 > conf || -e50 > conf) && !missed {
			t.Errorf("p50 error %d%% outside the ±%d%% confidence, but no miss was reported", e50, conf)
		}
	}
	// The verdict and the bound.
	vm := regexp.MustCompile(`(?m)^after \d+ deployments in [^:]+: (.*)$`).FindStringSubmatch(text)
	if vm == nil {
		t.Fatal("no verdict line")
	}
	verdict := vm[1]
	final := regexp.MustCompile(`final setup: measured p50 ([0-9.]+) ms, p95 ([0-9.]+) ms`).FindStringSubmatch(text)
	if final != nil {
		p95, _ := strconv.ParseFloat(final[2], 64)
		if verdict == "converged" && p95 > 100 {
			t.Errorf("verdict %q on a setup measured at p95 %.1f ms, over the 100 ms bound", verdict, p95)
		}
		if p95 > 100 && !strings.Contains(verdict, "over the bound") && !strings.Contains(verdict, "no setup meets the bound") {
			t.Errorf("final p95 %.1f ms over the bound, verdict %q does not say so", p95, verdict)
		}
	}
}
