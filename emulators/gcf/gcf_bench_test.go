package gcf

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
)

// Benchmarks, on the 2-core machine (figures in BENCHMARKS.md):
//
//	go test -run '^$' -bench WarmInvokeRatio -benchtime 3000x -count 5 ./emulators/gcf/
//	go test -run '^$' -bench DeployWarmBuildCache -benchtime 5x -count 2 ./emulators/gcf/

// BenchmarkWarmInvokeRatio calls the same function warm through the emulator's front and
// on a bare functions-framework-go server (the same built binary, started without the
// emulator), alternating call by call, and reports both mean latencies and their ratio
// (target ≤ 2). The function has 2Gi, so 1 vCPU and no CPU quota: the difference is the
// front (routing, the extra loopback hop, environment time, billing).
func BenchmarkWarmInvokeRatio(b *testing.B) {
	e, c := newEmulator(b, Options{})
	defer e.Close(context.Background())
	defer c.Close()
	fn := mustDeploy(b, c, "bench-echo", "Echo", &functionspb.ServiceConfig{AvailableMemory: "2Gi"})
	e.mu.Lock()
	rev := e.functions[fn.Name].serving
	e.mu.Unlock()

	port, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	bare := exec.Command(rev.build.binary)
	bare.Dir = rev.build.workspace
	bare.Env = []string{"PORT=" + strconv.Itoa(port), "FUNCTION_TARGET=Echo"}
	if err := bare.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := bare.Process.Kill(); err != nil {
			b.Error(err)
		}
		_ = bare.Wait() // killed: the exit status is the signal
	}()
	bareURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the bare server did not listen within 30 s")
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(url string) time.Duration {
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %s", url, resp.Status)
		}
		return time.Since(start)
	}
	get(fn.Url)
	get(bareURL)
	b.ReportAllocs()
	b.ResetTimer()
	var viaEmu, viaBare time.Duration
	for range b.N {
		viaEmu += get(fn.Url)
		viaBare += get(bareURL)
	}
	b.StopTimer()
	b.ReportMetric(float64(viaEmu.Nanoseconds())/float64(b.N), "emulator-ns/op")
	b.ReportMetric(float64(viaBare.Nanoseconds())/float64(b.N), "bare-ns/op")
	b.ReportMetric(float64(viaEmu)/float64(viaBare), "emulator/bare")
}

// BenchmarkDeployWarmBuildCache creates and deletes one function per
// iteration from a source that differs each time (a data file), so each
// deploy really builds, with the shared build cache warm.
func BenchmarkDeployWarmBuildCache(b *testing.B) {
	e, c := newEmulator(b, Options{})
	defer e.Close(context.Background())
	defer c.Close()
	mustDeploy(b, c, "bench-warmup", "Echo", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		src := zipModule(b, "fn", true, map[string]string{"data/greeting.txt": fmt.Sprint("hello ", i)})
		b.StartTimer()
		id := fmt.Sprintf("bench-deploy-%d", i)
		if _, err := deploy(b, c, id, "Echo", src, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		op, err := c.DeleteFunction(context.Background(), &functionspb.DeleteFunctionRequest{Name: testParent + "/functions/" + id})
		if err != nil {
			b.Fatal(err)
		}
		for !op.Done() {
			if err := op.Poll(context.Background()); err != nil {
				b.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.StartTimer()
	}
}
