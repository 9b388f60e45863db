package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
)

// TestUpOnGCPInvokeStatusDown follows the README with `--provider gcp`:
// `fusionize up examples/tree --provider gcp` deploys every task's group as
// a Cloud Function on the emulator that `serve` runs, `invoke` answers as
// the fused app does through the functions' URLs, `status` lists the groups
// in gcp/us-east4 with their https endpoints, and `down` stops the control
// plane, the emulators and every function instance: nothing is left running.
func TestUpOnGCPInvokeStatusDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the control plane and builds Cloud Functions from source")
	}
	data, cpAddr, httpAddr, run := newUpDir(t)
	appDir := filepath.Join("..", "..", "examples", "tree")
	requireBuildTools(t, appDir)
	// 2 GiB buys one vCPU on Cloud Run: cold starts compile at full speed.
	out := run("up", appDir, "--provider", "gcp", "--memory", "2048", "--control-plane", cpAddr, "--http-addr", httpAddr)
	for _, want := range []string{"applied setup version 1", "GROUP", "gcp/us-east4", "https "} {
		if !strings.Contains(out, want) {
			t.Fatalf("up output lacks %q:\n%s", want, out)
		}
	}
	app, err := manifest.Load(appDir)
	if err != nil {
		t.Fatal(err)
	}
	want := fused(t, app, []byte(app.Input))
	if out = run("invoke", app.Entry, "--control-plane", cpAddr, "--data", app.Input); !strings.Contains(out, string(want)) {
		t.Fatalf("invoke output:\n%s\nwant the fused app's\n%s", out, want)
	}
	out = run("status", "--control-plane", cpAddr)
	if !strings.Contains(out, "(active 1)") || strings.Count(out, "gcp/us-east4") != len(app.Tasks) {
		t.Fatalf("status output, want %d groups in gcp/us-east4:\n%s", len(app.Tasks), out)
	}
	if len(processesRunningFrom(data)) == 0 {
		t.Fatalf("no function instance runs from %s before down: the check after it would prove nothing", data)
	}
	if out = run("down"); !strings.Contains(out, "stopped control plane") {
		t.Fatalf("down output:\n%s", out)
	}
	if pid, ok := runningServeIn(data); ok {
		t.Fatalf("control plane (pid %d) still running after down", pid)
	}
	if left := processesRunningFrom(data); len(left) > 0 {
		t.Fatalf("processes still running from %s after down: %v", data, left)
	}
}

// processesRunningFrom lists the live processes whose executable lies under
// dir (a Cloud Function instance runs the binary its build left there).
func processesRunningFrom(dir string) []string {
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	var out []string
	for _, exe := range exes {
		if target, err := os.Readlink(exe); err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			out = append(out, filepath.Base(filepath.Dir(exe))+" "+target)
		}
	}
	return out
}
