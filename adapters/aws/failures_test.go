package aws_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/fusionize/fusionize/adapters/adaptertest"
	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
	"github.com/fusionize/fusionize/host"
	lambdatransport "github.com/fusionize/fusionize/host/transport/lambda"
)

// failureEnv deploys one group of tasks (uploaded from files) on the
// emulator and returns its endpoint.
type failureEnv struct {
	dir string // the emulator's
	em  *lambdaemu.Emulator
	url string
	ep  api.Endpoint
	tr  *lambdatransport.Transport
	a   *aws.Adapter
}

func deployGroup(t *testing.T, opts lambdaemu.Options, memoryMB, timeout int, modules map[string]string) failureEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the Lambda bootstrap and starts execution environments")
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.Dir = t.TempDir() // the environments' code lives here (bootstrapPIDs)
	em, url := emulator(t, opts)
	env := adaptertest.NewEnvAt(t, setup.Place{Provider: "aws", Region: "us-east-1"})
	g := setup.Group{Name: "g", MemoryMB: memoryMB}
	for task, path := range modules {
		wasm, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		env.Upload(t, task, wasm)
		g.Tasks = append(g.Tasks, task)
	}
	su := env.Apply(t, g)
	a := newAdapter(t, url, timeout)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ep, err := a.Deploy(ctx, env.Deployment(t, su, "g"))
	if err != nil {
		t.Fatal(err)
	}
	return failureEnv{dir: opts.Dir, em: em, url: url, ep: ep.Endpoint, tr: lambdatransport.New(lambdatransport.Options{}), a: a}
}

const (
	echoWasm = "../adaptertest/testdata/echo.wasm"
	loopWasm = "../adaptertest/testdata/loop.wasm"
	trapWasm = "../../host/testdata/trap.wasm"
	hogWasm  = "testdata/hog.wasm"
)

func TestOutOfMemoryFailsTheCallNamingTaskAndFunction(t *testing.T) {
	// 128 MB: the host lets an instance grow to the function's 128 MB,
	// and the host's own memory beside it crosses the platform's limit
	// first.
	f := deployGroup(t, lambdaemu.Options{}, 128, 60, map[string]string{"hog": hogWasm, "echo": echoWasm})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := f.tr.Call(ctx, f.ep, host.Call{Task: "hog"})
	if host.CodeOf(err) != host.CodeUnavailable || !strings.Contains(err.Error(), `"hog"`) || !strings.Contains(err.Error(), f.ep.FunctionName) {
		for _, r := range f.em.Reports(f.ep.FunctionName) {
			t.Log(r.Line)
		}
		t.Log(f.em.Logs(f.ep.FunctionName))
		t.Fatalf("hog past 128 MB: %v (code %d), want CodeUnavailable naming task and function", err, host.CodeOf(err))
	}
	t.Logf("hog: %v", err)
	// The environment is gone; the function still serves.
	if out, err := f.tr.Call(ctx, f.ep, host.Call{Task: "echo", Input: []byte("after")}); err != nil || string(out) != "after" {
		t.Fatalf("echo after the kill: %q, %v", out, err)
	}
}

func TestTimeoutEndsTheCallWithADeadlineError(t *testing.T) {
	f := deployGroup(t, lambdaemu.Options{}, 256, 10, map[string]string{"loop": loopWasm})
	// The function's timeout (10 s in these tests) ends a loop that has no
	// caller deadline of its own.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := f.tr.Call(ctx, f.ep, host.Call{Task: "loop"})
	if host.CodeOf(err) != host.CodeDeadline || !strings.Contains(err.Error(), `"loop"`) {
		t.Fatalf("loop: %v (code %d), want CodeDeadline naming the task", err, host.CodeOf(err))
	}
	t.Logf("loop: %v", err)
}

func TestEnvironmentKilledMidRequestFailsTheCall(t *testing.T) {
	f := deployGroup(t, lambdaemu.Options{}, 256, 10, map[string]string{"loop": loopWasm, "echo": echoWasm})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := f.tr.Call(ctx, f.ep, host.Call{Task: "loop"})
		errc <- err
	}()
	// Kill the function's environments, as a crash would, until the call
	// that one of them runs ends.
	var err error
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case err = <-errc:
			done = true
		case <-tick.C:
			for _, pid := range bootstrapPIDs(t, f.dir) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if host.CodeOf(err) != host.CodeUnavailable || !strings.Contains(err.Error(), f.ep.FunctionName) {
		t.Fatalf("killed mid-request: %v (code %d), want CodeUnavailable naming the function", err, host.CodeOf(err))
	}
	t.Logf("killed: %v", err)
	// The emulator notices every killed environment before the next call.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if alive, _ := f.em.Environments(f.ep.FunctionName); alive == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("killed environments still in the pool after 10 s")
		}
	}
	if out, err := f.tr.Call(ctx, f.ep, host.Call{Task: "echo", Input: []byte("again")}); err != nil || string(out) != "again" {
		t.Fatalf("echo after the crash: %q, %v", out, err)
	}
}

// bootstrapPIDs lists the processes running a bootstrap under dir: the
// execution environments of one emulator.
func bootstrapPIDs(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err == nil && strings.HasPrefix(exe, dir+"/") && strings.HasSuffix(exe, "/bootstrap") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestThrottlingIsRetriedWithinTheDeadline(t *testing.T) {
	f := deployGroup(t, lambdaemu.Options{}, 256, 10, map[string]string{"loop": loopWasm, "echo": echoWasm})
	ctx := context.Background()
	one := int32(1)
	if _, err := f.a.Client().PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: &f.ep.FunctionName, ReservedConcurrentExecutions: &one}); err != nil {
		t.Fatal(err)
	}
	// The deploy's ping may still be finishing its work after the response.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, busy := f.em.Environments(f.ep.FunctionName); busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the function's environment stayed busy after the deploy")
		}
	}
	// The one environment is busy with a loop for 1.5 s (its caller's
	// deadline); an echo meanwhile is throttled (429) and retried.
	var wg sync.WaitGroup
	wg.Go(func() {
		lctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		_, _ = f.tr.Call(lctx, f.ep, host.Call{Task: "loop"})
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, busy := f.em.Environments(f.ep.FunctionName); busy == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the loop never occupied the function's one environment")
		}
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := f.tr.Call(short, f.ep, host.Call{Task: "echo"})
	cancel()
	if c := host.CodeOf(err); c != host.CodeTooMany && c != host.CodeDeadline {
		t.Fatalf("echo with 200 ms while throttled: %v (code %d), want CodeTooMany or CodeDeadline", err, c)
	}
	long, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := f.tr.Call(long, f.ep, host.Call{Task: "echo", Input: []byte("patient")})
	if err != nil || string(out) != "patient" {
		t.Fatalf("echo with time to retry: %q, %v", out, err)
	}
	wg.Wait()
}

func TestFailingAsyncCallReachesTheDeadLetterList(t *testing.T) {
	f := deployGroup(t, lambdaemu.Options{RetryDelays: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}}, 256, 10, map[string]string{"trap": trapWasm})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := f.tr.Call(ctx, f.ep, host.Call{Task: "trap", Async: true, Caller: "client"}); err != nil {
		t.Fatalf("async call not accepted: %v", err)
	}
	for ctx.Err() == nil && len(f.em.DeadLetters()) == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	dl := f.em.DeadLetters()
	if len(dl) != 1 {
		t.Fatalf("dead letters: %+v, want the one async call", dl)
	}
	t.Logf("dead letter: %+v", dl[0])
	if n := len(f.em.Reports(f.ep.FunctionName)); n < 4 { // ping + three attempts
		t.Fatalf("%d invocations, want the first attempt and two retries", n-1)
	}
}

func TestCallCarriesItsTraceToLambda(t *testing.T) {
	// The transport sends the call's trace as X-Ray's header; Lambda's
	// report names it, so a client can find the invocation it waited for.
	f := deployGroup(t, lambdaemu.Options{}, 256, 10, map[string]string{"echo": echoWasm})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	if out, err := f.tr.Call(ctx, f.ep, host.Call{Task: "echo", Input: []byte("hi"), TraceID: trace}); err != nil || string(out) != "hi" {
		t.Fatalf("echo: %q, %v", out, err)
	}
	// The REPORT follows the answer: once the runtime asks for its next event.
	var got []string
	for range 100 {
		got = got[:0]
		for _, r := range f.em.Reports(f.ep.FunctionName) {
			got = append(got, r.TraceID)
		}
		if slices.Contains(got, trace) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("reports name traces %q, want one %s", got, trace)
}
