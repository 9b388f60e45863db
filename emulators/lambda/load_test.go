//go:build loadtest

package lambda

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusionize/fusionize/emulators/sandbox"
)

var busySeq atomic.Int64

// busyEnvironments starts n processes spinning at 1 vCPU each, as n busy environments of
// other functions would; stop ends them (so does the end of the test).
func busyEnvironments(t testing.TB, n int) (stop func()) {
	t.Helper()
	var envs []*sandbox.Env
	stop = func() {
		for _, env := range envs {
			_ = env.Stop(context.Background())
		}
	}
	t.Cleanup(stop)
	for i := 0; i < n; i++ {
		env, err := sandbox.Start(context.Background(), sandbox.Spec{
			Name: fmt.Sprintf("lambda-test-%d-busy-%d", os.Getpid(), busySeq.Add(1)), Path: "/bin/sh",
			Args: []string{"-c", "while :; do :; done"}, Limits: sandbox.Limits{VCPU: 1, MemoryMB: 64},
		})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	time.Sleep(100 * time.Millisecond)
	return stop
}

// loadRatio reports a CPU-bound invocation's Duration at 442 MB (0.25 vCPU) alone and with
// 8 busy environments on this machine: loaded/alone for the REPORT Duration and for the
// client's wall time.
func loadRatio(t testing.TB) (duration, wall float64, alone, loaded Report) {
	f := newFixture(t, Options{})
	f.create(t, "load", withMemory(442), withTimeout(60))
	ev := map[string]any{"op": "spin", "n": 60}
	f.invoke(t, "load", ev) // the cold start
	measure := func() (Report, time.Duration) {
		before := len(f.em.Reports("load"))
		t0 := time.Now()
		f.invoke(t, "load", ev)
		w := time.Since(t0)
		// The REPORT follows the answer, once the runtime asks for its next event.
		for deadline := time.Now().Add(10 * time.Second); len(f.em.Reports("load")) == before; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no REPORT for the invocation")
			}
		}
		r := f.em.Reports("load")
		return r[len(r)-1], w
	}
	alone, aloneWall := measure()
	stop := busyEnvironments(t, 8)
	loaded, loadedWall := measure()
	stop()
	return float64(loaded.Duration) / float64(alone.Duration), float64(loadedWall) / float64(aloneWall), alone, loaded
}

func TestDurationDoesNotDependOnMachineLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs 8 CPU-bound environments")
	}
	ratio, wall, alone, loaded := loadRatio(t)
	t.Logf("0.25 vCPU: Duration alone %v, with 8 busy environments %v: ratio %.3f (wall time ratio %.2f)", alone.Duration, loaded.Duration, ratio, wall)
	// The spec is 10% (BenchmarkDurationUnderLoad reports it); this shared machine gets a
	// wider band in an ordinary test.
	if ratio < 0.75 || ratio > 1.25 {
		t.Errorf("Duration under load / alone = %.3f, want within 25%% of 1", ratio)
	}
}

// BenchmarkDurationUnderLoad reports the load-independence ratio of REPORT durations
// (spec: within 10% of 1).
func BenchmarkDurationUnderLoad(b *testing.B) {
	var sum, wsum float64
	for i := 0; i < b.N; i++ {
		r, w, _, _ := loadRatio(b)
		sum += r
		wsum += w
	}
	b.ReportMetric(sum/float64(b.N), "loaded/alone")
	b.ReportMetric(wsum/float64(b.N), "wall-loaded/alone")
}
