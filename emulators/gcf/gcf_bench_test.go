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

// BenchmarkWarmInvoke calls the same function warm through the emulator's
// front and on a bare functions-framework-go server (the same built binary,
// started without the emulator), interleaved call by call, and reports both
// and their ratio. The function has 2Gi, so 1 vCPU and no CPU quota: the
// difference is the front (routing, limits, measurement, billing).
func BenchmarkWarmInvoke(b *testing.B) {
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
	defer func() { bare.Process.Kill(); bare.Wait() }()
	bareURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(url string) time.Duration {
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
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
	b.ReportMetric(float64(viaEmu.Microseconds())/float64(b.N), "emulator-µs/call")
	b.ReportMetric(float64(viaBare.Microseconds())/float64(b.N), "bare-µs/call")
	b.ReportMetric(float64(viaEmu)/float64(viaBare), "ratio")
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
