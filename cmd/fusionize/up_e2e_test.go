package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// restartPort returns a loopback address with a free port below Linux's
// ephemeral range (32768–60999 by default), for a server a test kills and
// starts again on the same address: in the ephemeral range, any outgoing
// connection on the machine (a reconnecting host, another test) may take
// the port as its source port meanwhile, and the restart finds it in use.
func restartPort(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// TestUpInvokeDown follows the README: `fusionize up examples/iot`, then
// `invoke`, `status`, `setup apply`, `history` and `down`, each as its own
// process.
func TestUpInvokeDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the control plane and host processes")
	}
	data, cpAddr, httpAddr, run := newUpDir(t)
	out := run("up", filepath.Join("..", "..", "examples", "iot"), "--control-plane", cpAddr, "--http-addr", httpAddr)
	for _, want := range []string{"applied setup version 1", "GROUP", "CSL"} {
		if !strings.Contains(out, want) {
			t.Fatalf("up output lacks %q:\n%s", want, out)
		}
	}
	input := `{"sensorId":"s-7","location":"j-1","timestamp":"t","temperature":[20,21],"sound":[60,61],"air":{"pm25":10,"no2":20,"co2":400},"vehicles":[3,4]}`
	out = run("invoke", "I", "--control-plane", cpAddr, "--data", input)
	if !strings.Contains(out, `"sensorId":"s-7"`) {
		t.Fatalf("invoke output:\n%s", out)
	}
	setupFile := filepath.Join(t.TempDir(), "setup.json")
	if err := os.WriteFile(setupFile, []byte(`{"groups":[
		{"name":"front","tasks":["I","CW","SE"],"memoryMB":256,"place":{"provider":"local"}},
		{"name":"rest","tasks":["CT","CS","CA","AS","CSL","CSA","DJ"],"memoryMB":128,"place":{"provider":"local"}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run("setup", "apply", setupFile, "--control-plane", cpAddr)
	if !strings.Contains(out, "setup version 2 is active") {
		t.Fatalf("setup apply output:\n%s", out)
	}
	out = run("status", "--control-plane", cpAddr)
	if !strings.Contains(out, "(active 2)") || !strings.Contains(out, "front") {
		t.Fatalf("status output:\n%s", out)
	}
	if out = run("invoke", "I", "-v", "--control-plane", cpAddr, "--data", input); !strings.Contains(out, `"sensorId":"s-7"`) || !strings.Contains(out, "via the entry point "+cpAddr) {
		t.Fatalf("invoke after the switch:\n%s", out)
	} else if !regexp.MustCompile(`\(trace [0-9a-f]{32} span [0-9a-f]{16}\)`).MatchString(out) || strings.Contains(out, "span 0000000000000000") {
		t.Fatalf("invoke -v prints no trace and span id:\n%s", out)
	}
	if out = run("invoke", "I", "--direct", "--control-plane", cpAddr, "--data", input); !strings.Contains(out, `"sensorId":"s-7"`) || !strings.Contains(out, "setup version 2") {
		t.Fatalf("invoke --direct after the switch:\n%s", out)
	}
	// The live hosts as Prometheus file_sd targets, each serving /metrics.
	out = run("status", "-o", "prometheus-sd", "--control-plane", cpAddr)
	var sd []struct {
		Targets []string
		Labels  map[string]string
	}
	if err := json.Unmarshal([]byte(out), &sd); err != nil {
		t.Fatalf("status -o prometheus-sd is not a target list: %v\n%s", err, out)
	}
	groups := map[string]bool{}
	for _, tg := range sd {
		if len(tg.Targets) != 1 || tg.Labels["fusionize_app"] != "iot" || tg.Labels["fusionize_setup_version"] == "" {
			t.Fatalf("target group %+v, want one target of app iot with its setup version", tg)
		}
		if tg.Labels["fusionize_setup_version"] != "2" {
			continue // a host of the previous version, draining: it may be gone already
		}
		groups[tg.Labels["fusionize_group"]] = true
		res, err := http.Get("http://" + tg.Targets[0] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || !strings.Contains(string(b), "fusionize_invocations_total") {
			t.Fatalf("GET %s/metrics: %s, %v:\n%.300s", tg.Targets[0], res.Status, err, b)
		}
	}
	if !groups["front"] || !groups["rest"] {
		t.Fatalf("prometheus-sd targets %+v lack the active groups front and rest", sd)
	}
	if out = run("history", "--control-plane", cpAddr); !strings.Contains(out, "no iterations yet") {
		t.Fatalf("history output:\n%s", out)
	}
	if out = run("down"); !strings.Contains(out, "stopped control plane") {
		t.Fatalf("down output:\n%s", out)
	}
	if pid, ok := runningServeIn(data); ok {
		t.Fatalf("control plane (pid %d) still running after down", pid)
	}
}

// newUpDir builds the binary and returns a data dir, free control-plane
// addresses and a runner of the binary with that data dir: each command its
// own process that must succeed. The test's end runs `down` there.
func newUpDir(t *testing.T) (data, cpAddr, httpAddr string, run func(args ...string) string) {
	t.Helper()
	buildBinary(t)
	data = t.TempDir()
	cpAddr, httpAddr = freePort(t), freePort(t)
	t.Cleanup(func() {
		_ = exec.Command(binary, "--data-dir", data, "down").Run()
	})
	run = func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"--data-dir", data}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fusionize %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	return data, cpAddr, httpAddr, run
}

// runningServeIn is runningServe for another data dir.
func runningServeIn(dir string) (int, bool) {
	old := g.dataDir
	g.dataDir = dir
	defer func() { g.dataDir = old }()
	return runningServe()
}
