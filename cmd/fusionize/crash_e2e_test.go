package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fusionize/fusionize/controlplane/client"
)

// procs lists the running (not zombie) processes whose command line holds
// every one of words, by pid.
func procs(t *testing.T, words ...string) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if !containsAll(args, words) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
		}
		out[pid] = strings.Join(args, " ")
	}
	return out
}

func containsAll(args, words []string) bool {
	for _, w := range words {
		if !slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, w) }) {
			return false
		}
	}
	return true
}

// reapOrphans waits for the exited processes that were handed to this
// process as their subreaper, so that /proc shows only what still runs.
func reapOrphans() {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z' {
			continue
		}
		if f := strings.Fields(string(stat[i+2:])); len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
	}
}

// TestUpAfterControlPlaneKilled writes events through the IoT app, switches
// setups twice, kills the control plane with SIGKILL and runs `up` again:
// the hosts the dead control plane left are stopped before the new ones
// start, the registry lists each host once at its recorded address,
// invokes reach only the new hosts, every event written before the crash
// reads back, and `down` leaves no process of the data directory behind.
func TestUpAfterControlPlaneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control planes and host processes")
	}
	data, cpAddr, httpAddr, run := crashCluster(t)
	iot := filepath.Join("..", "..", "examples", "iot")
	run("up", iot, "--control-plane", cpAddr, "--http-addr", httpAddr)
	token, err := client.ReadToken(data)
	if err != nil {
		t.Fatal(err)
	}
	event := func(i int) string {
		return fmt.Sprintf(`{"sensorId":"s-%d","location":"j-1","timestamp":"t","temperature":[20,21],"sound":[60,61],"air":{"pm25":10,"no2":20,"co2":400},"vehicles":[3,4]}`, i)
	}
	n := 0
	send := func(count int) {
		t.Helper()
		for range count {
			n++
			if out := run("invoke", "I", "--control-plane", cpAddr, "--data", event(n)); !strings.Contains(out, fmt.Sprintf(`"sensorId":"s-%d"`, n)) {
				t.Fatalf("invoke %d:\n%s", n, out)
			}
		}
	}
	send(3)
	for i, groups := range []string{
		`[{"name":"front","tasks":["I","CW","SE"],"memoryMB":256,"place":{"provider":"local"}},
		  {"name":"rest","tasks":["CT","CS","CA","AS","CSL","CSA","DJ"],"memoryMB":128,"place":{"provider":"local"}}]`,
		`[{"name":"in","tasks":["I","CW"],"memoryMB":256,"place":{"provider":"local"}},
		  {"name":"store","tasks":["SE"],"memoryMB":128,"place":{"provider":"local"}},
		  {"name":"check","tasks":["CT","CS","CA","AS","CSL","CSA","DJ"],"memoryMB":128,"place":{"provider":"local"}}]`,
	} {
		file := filepath.Join(t.TempDir(), "setup.json")
		if err := os.WriteFile(file, []byte(`{"groups":`+groups+`}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := run("setup", "apply", file, "--control-plane", cpAddr); !strings.Contains(out, fmt.Sprintf("setup version %d is active", i+2)) {
			t.Fatalf("setup apply:\n%s", out)
		}
		send(3)
	}
	// The hosts of version 2 drain after the switch.
	oldHosts := procs(t, data, "host")
	for deadline := time.Now().Add(time.Minute); len(oldHosts) != 3 && time.Now().Before(deadline); oldHosts = procs(t, data, "host") {
		time.Sleep(50 * time.Millisecond)
		reapOrphans()
	}
	if len(oldHosts) != 3 {
		t.Fatalf("%d host processes before the crash, want the 3 groups of version 3: %v", len(oldHosts), oldHosts)
	}

	servePID, ok := runningServeIn(data)
	if !ok {
		t.Fatal("no control plane running")
	}
	if err := syscall.Kill(servePID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); isServeIn(data, servePID); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the control plane outlived SIGKILL")
		}
	}
	if left := procs(t, data, "host"); len(left) != 3 {
		t.Fatalf("the hosts died with their control plane (%v); want them running as orphans", left)
	}

	out := run("up", iot, "--control-plane", cpAddr, "--http-addr", httpAddr)
	if got := strings.Count(string(mustRead(t, filepath.Join(data, "serve.log"))), "left by a crashed control plane"); got != 3 {
		t.Errorf("serve.log reports %d orphans stopped, want 3\n%s", got, out)
	}
	reapOrphans()
	newHosts := procs(t, data, "host")
	for pid := range oldHosts {
		if _, ok := newHosts[pid]; ok {
			t.Errorf("host %d of the killed control plane still runs: %s", pid, oldHosts[pid])
		}
	}
	if len(newHosts) != 3 {
		t.Errorf("%d host processes after up, want 3: %v", len(newHosts), newHosts)
	}

	cli, err := client.Dial(t.Context(), cpAddr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, eps, err := cli.SetupEndpoints(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := cli.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h.Group] {
			t.Errorf("group %s listed twice: %v", h.Group, hosts)
		}
		seen[h.Group] = true
		if ep := eps[h.Group]; h.Address != ep.Address || h.SetupVersion != 3 {
			t.Errorf("host %s registered at %s (version %d); the recorded endpoint is %s", h.Name, h.Address, h.SetupVersion, ep.Address)
		}
	}
	if len(hosts) != 3 {
		t.Errorf("registry lists %d hosts, want 3: %v", len(hosts), hosts)
	}
	send(1) // reaches the new hosts: the old ones are gone

	for i := 1; i <= n; i++ {
		key := fmt.Sprintf("events/s-%d/t", i)
		v, ok, err := cli.GetValue(ctx, "iot", key)
		if err != nil || !ok || string(v) != event(i) {
			t.Errorf("%s after the crash = %q, %v, %v; want the event", key, v, ok, err)
		}
	}

	if out := run("down"); !strings.Contains(out, "stopped control plane") {
		t.Fatalf("down:\n%s", out)
	}
	reapOrphans()
	if left := procs(t, data); len(left) != 0 {
		t.Fatalf("processes of the data directory after down: %v", left)
	}
}

// TestDownStopsHostsOfAKilledControlPlane: with no control plane left to
// ask, `down` still stops the hosts from their pid files.
func TestDownStopsHostsOfAKilledControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and host processes")
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0)
	buildBinary(t)
	data := t.TempDir()
	cpAddr, httpAddr := freePort(t), freePort(t)
	t.Cleanup(func() {
		for pid := range procs(t, data) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		reapOrphans()
	})
	if out, err := exec.Command(binary, "--data-dir", data, "up", filepath.Join("..", "..", "examples", "iot"), "--control-plane", cpAddr, "--http-addr", httpAddr).CombinedOutput(); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	pid, ok := runningServeIn(data)
	if !ok {
		t.Fatal("no control plane running")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); isServeIn(data, pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the control plane outlived SIGKILL")
		}
	}
	out, err := exec.Command(binary, "--data-dir", data, "down").CombinedOutput()
	if err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), "left by a crashed control plane"); got != 10 {
		t.Errorf("down reports %d orphans, want the 10 IoT hosts:\n%s", got, out)
	}
	reapOrphans()
	if left := procs(t, data); len(left) != 0 {
		t.Fatalf("processes of the data directory after down: %v", left)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isServeIn is isServe for another data dir.
func isServeIn(dir string, pid int) bool {
	old := g.dataDir
	g.dataDir = dir
	defer func() { g.dataDir = old }()
	return isServe(pid)
}

// crashCluster prepares a data directory and ports for `fusionize up` runs
// that kill processes: this process becomes the subreaper of the hosts a
// killed control plane orphans (init does not reap them here), so that
// their exit is visible in /proc. run runs the binary on the data
// directory; cleanup runs `down` and kills whatever is left.
func crashCluster(t *testing.T) (data, cpAddr, httpAddr string, run func(args ...string) string) {
	t.Helper()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0); errno != 0 {
		t.Logf("no subreaper (%v): exited orphans stay zombies", errno)
	}
	buildBinary(t)
	data = t.TempDir()
	cpAddr, httpAddr = restartPort(t), restartPort(t) // the crash tests start a control plane again on them
	run = func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append([]string{"--data-dir", data}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("fusionize %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		_ = exec.Command(binary, "--data-dir", data, "down").Run()
		for pid := range procs(t, data) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		reapOrphans()
	})
	return data, cpAddr, httpAddr, run
}
