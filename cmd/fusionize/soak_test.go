//go:build soak

// The soak test drives load through the IoT app while it is disrupted: five
// live switches, one host killed with SIGKILL and one control-plane crash
// and restart. It needs nothing beyond Go and the project's example app:
//
//	go test -tags soak ./cmd/fusionize -run TestSoak -v -timeout 30m
//
// It takes about two and a half minutes on the project's 2-core machine
// (2m17s of load and disruption, plus building the binary and the app).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/fuser/invoke"
	"github.com/fusionize/fusionize/host"
)

// TestSoak checks, under load and disruption, that every request is
// answered or fails with an error naming what failed, every async call the
// app accepted completes (its event is stored) or is logged as failed,
// every event a request was told was stored reads back at the end, and
// `down` leaves no process behind.
func TestSoak(t *testing.T) {
	data, cpAddr, httpAddr, run := crashCluster(t)
	iot := filepath.Join("..", "..", "examples", "iot")
	start := time.Now()
	run("up", iot, "--control-plane", cpAddr, "--http-addr", httpAddr)
	token, err := client.ReadToken(data)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := client.Dial(t.Context(), cpAddr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	invokeToken, err := client.ReadInvokeToken(data)
	if err != nil {
		t.Fatal(err)
	}
	inv := invoke.New(cli, invoke.WithInvokeToken(invokeToken))
	defer inv.Close()

	event := func(kind string, i int) []byte {
		return fmt.Appendf(nil, `{"sensorId":"%s-%d","location":"j-1","timestamp":"t","temperature":[20,21],"sound":[60,61],"air":{"pm25":10,"no2":20,"co2":400},"vehicles":[3,4]}`, kind, i)
	}
	var (
		mu        sync.Mutex
		stored    []int // sync requests answered: their event is stored
		accepted  []int // async calls of SE accepted
		failures  = map[string]int{}
		unclear   []string
		requests  int
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		nextIndex int
	)
	next := func() int {
		mu.Lock()
		defer mu.Unlock()
		nextIndex++
		requests++
		return nextIndex
	}
	fail := func(err error) {
		msg := err.Error()
		mu.Lock()
		defer mu.Unlock()
		// A clear error names the task or group it concerns, or the
		// control plane the route comes from.
		if !strings.Contains(msg, `"I"`) && !strings.Contains(msg, `"SE"`) && !strings.Contains(msg, `group "`) && !strings.Contains(msg, "controlplane") {
			unclear = append(unclear, msg)
		}
		key := msg
		if i := strings.Index(key, ": "); i > 0 && len(key) > 90 {
			key = key[:90]
		}
		failures[key]++
	}
	for w := range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := next()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if w == 0 && i%2 == 0 {
					_, err := inv.Call(ctx, host.Call{Task: "SE", Input: event("a", i), Async: true})
					cancel()
					if err != nil {
						fail(err)
						continue
					}
					mu.Lock()
					accepted = append(accepted, i)
					mu.Unlock()
					continue
				}
				res, err := inv.Invoke(ctx, "I", event("s", i))
				cancel()
				if err != nil {
					fail(err)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if !strings.Contains(string(res.Output), fmt.Sprintf(`"sensorId":"s-%d"`, i)) {
					t.Errorf("request %d answered %q", i, res.Output)
				}
				mu.Lock()
				stored = append(stored, i)
				mu.Unlock()
			}
		})
	}

	// Five live switches between two groupings, a host killed in the
	// middle, and a control-plane crash and restart after the fourth.
	groupings := []string{
		`[{"name":"front","tasks":["I","CW","SE"],"memoryMB":256,"place":{"provider":"local"}},
		  {"name":"rest","tasks":["CT","CS","CA","AS","CSL","CSA","DJ"],"memoryMB":128,"place":{"provider":"local"}}]`,
		`[{"name":"in","tasks":["I","CW"],"memoryMB":256,"place":{"provider":"local"}},
		  {"name":"store","tasks":["SE"],"memoryMB":128,"place":{"provider":"local"}},
		  {"name":"check","tasks":["CT","CS","CA","AS","CSL","CSA","DJ"],"memoryMB":128,"place":{"provider":"local"}}]`,
	}
	for s := range 5 {
		time.Sleep(3 * time.Second)
		su, err := setup.Parse([]byte(`{"groups":` + groupings[s%2] + `}`))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		v, err := cli.ApplySetup(ctx, su)
		if err == nil {
			err = cli.WaitActive(ctx, v)
		}
		cancel()
		if err != nil {
			t.Fatalf("switch %d: %v", s+1, err)
		}
		t.Logf("switch %d: version %d active after %s", s+1, v, time.Since(start).Round(time.Second))
		switch s {
		case 2: // SIGKILL the host of the analyses; the adapter restarts it
			time.Sleep(2 * time.Second)
			for pid, cmd := range procs(t, data, "host", "--group", fmt.Sprintf("--setup-version %d", v)) {
				if strings.Contains(cmd, "--group rest") || strings.Contains(cmd, "--group check") {
					t.Logf("SIGKILL host %d: %s", pid, cmd)
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		case 3: // crash the control plane and bring it back with up
			time.Sleep(2 * time.Second)
			pid, ok := runningServeIn(data)
			if !ok {
				t.Fatal("no control plane running")
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
			for isServeIn(data, pid) {
				time.Sleep(20 * time.Millisecond)
			}
			run("up", iot, "--control-plane", cpAddr, "--http-addr", httpAddr)
			t.Logf("control plane restarted after %s", time.Since(start).Round(time.Second))
		}
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	// Async calls finish after they were accepted: wait for them.
	missing := func() []int {
		var out []int
		for _, i := range accepted {
			key := fmt.Sprintf("events/a-%d/t", i)
			if _, ok, err := cli.GetValue(t.Context(), "iot", key); err != nil || !ok {
				out = append(out, i)
			}
		}
		return out
	}
	lost := missing()
	for deadline := time.Now().Add(time.Minute); len(lost) > 0 && time.Now().Before(deadline); lost = missing() {
		time.Sleep(500 * time.Millisecond)
	}
	loggedFailed := 0
	logs, _ := filepath.Glob(filepath.Join(data, "local", "logs", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `msg="async call failed"`) && strings.Contains(line, " task=SE ") {
				loggedFailed++
				t.Logf("%s: %s", filepath.Base(l), line)
			}
		}
	}
	if len(lost) > loggedFailed {
		t.Errorf("%d accepted async calls neither stored their event nor were logged as failed (%d logged): %v", len(lost), loggedFailed, lost)
	}
	for _, i := range stored {
		key := fmt.Sprintf("events/s-%d/t", i)
		v, ok, err := cli.GetValue(t.Context(), "iot", key)
		if err != nil || !ok || string(v) != string(event("s", i)) {
			t.Errorf("%s, acknowledged as stored, reads back %q, %v, %v", key, v, ok, err)
		}
	}
	var kinds []string
	for k, n := range failures {
		kinds = append(kinds, fmt.Sprintf("%5d × %s", n, k))
	}
	sort.Strings(kinds)
	t.Logf("%d requests in %s: %d sync answered, %d async accepted (%d of them logged failed), %d failed:\n%s",
		requests, time.Since(start).Round(time.Second), len(stored), len(accepted), loggedFailed, requests-len(stored)-len(accepted), strings.Join(kinds, "\n"))
	for _, m := range unclear {
		t.Errorf("an error names neither the task nor the control plane: %s", m)
	}
	// Switches and restarts cost some requests; a run that answers none
	// has tested nothing.
	if len(stored) == 0 || len(accepted) == 0 {
		t.Errorf("%d sync requests answered and %d async calls accepted: want some of each", len(stored), len(accepted))
	}

	if out := run("down"); !strings.Contains(out, "stopped control plane") {
		t.Fatalf("down:\n%s", out)
	}
	reapOrphans()
	if left := procs(t, data); len(left) != 0 {
		t.Fatalf("processes of the data directory after down: %v", left)
	}
	t.Logf("soak took %s", time.Since(start).Round(time.Second))
}
