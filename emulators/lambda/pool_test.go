package lambda

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func pidOf(t testing.TB, f *fixture, name string) string {
	t.Helper()
	return decode[map[string]string](t, f.invoke(t, name, map[string]any{"op": "env"}).Payload)["pid"]
}

func TestWarmInvokeReusesEnvironment(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "warm")
	a, b := pidOf(t, f, "warm"), pidOf(t, f, "warm")
	if a != b {
		t.Errorf("second invoke ran in process %s, the first in %s: want the same environment", b, a)
	}
	if r := f.em.Reports("warm"); !r[0].Cold || r[1].Cold {
		t.Errorf("cold flags %v %v, want true false", r[0].Cold, r[1].Cold)
	}
}

func TestSecondConcurrentInvokeStartsSecondEnvironment(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "conc")
	var wg sync.WaitGroup
	pids := make([]string, 2)
	for i := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := f.tryInvoke("conc", map[string]any{"op": "sleep", "n": 300})
			if err != nil {
				t.Error(err)
				return
			}
			pids[i] = string(out.Payload)
		}()
	}
	wg.Wait()
	if alive, _ := f.em.Environments("conc"); alive != 2 {
		t.Errorf("%d environments after two concurrent invokes, want 2", alive)
	}
	r := f.em.Reports("conc")
	if len(r) != 2 || !r[0].Cold || !r[1].Cold {
		t.Errorf("reports %+v, want two cold starts", r)
	}
}

func TestIdleEnvironmentsAreReusedMostRecentFirst(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "mru")
	// Two environments: A ends first, B later; B is the most recently used.
	var wg sync.WaitGroup
	var slowPID string
	wg.Add(2)
	go func() { defer wg.Done(); f.invoke(t, "mru", map[string]any{"op": "sleep", "n": 100}) }()
	go func() {
		defer wg.Done()
		time.Sleep(20 * time.Millisecond)
		f.invoke(t, "mru", map[string]any{"op": "sleep", "n": 400})
	}()
	wg.Wait()
	f.em.mu.Lock()
	var newest *environment
	for _, e := range f.em.functions["mru"].pool.envs {
		if newest == nil || e.lastUsed.After(newest.lastUsed) {
			newest = e
		}
	}
	f.em.mu.Unlock()
	slowPID = strconv.Itoa(newest.sb.PID())
	if got := pidOf(t, f, "mru"); got != slowPID {
		t.Errorf("the next invoke ran in %s, want the most recently used environment %s", got, slowPID)
	}
}

func TestForceColdStartStartsEveryInvokeFresh(t *testing.T) {
	f := newFixture(t, Options{ForceColdStart: true})
	f.create(t, "cold")
	a, b := pidOf(t, f, "cold"), pidOf(t, f, "cold")
	if a == b {
		t.Errorf("both invokes ran in process %s", a)
	}
	if r := f.em.Reports("cold"); !r[0].Cold || !r[1].Cold {
		t.Errorf("cold flags %v %v", r[0].Cold, r[1].Cold)
	}
}

func TestKeepAliveReclaimsIdleEnvironment(t *testing.T) {
	f := newFixture(t, Options{KeepAlive: 50 * time.Millisecond})
	f.create(t, "reclaim")
	a := pidOf(t, f, "reclaim")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if alive, _ := f.em.Environments("reclaim"); alive == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle environment was not reclaimed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b := pidOf(t, f, "reclaim"); a == b {
		t.Errorf("a reclaimed environment (process %s) served again", a)
	}
}

func TestReservedConcurrencyThrottlesWith429(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "throttled")
	if _, err := f.client.PutFunctionConcurrency(context.Background(), &awslambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("throttled"), ReservedConcurrentExecutions: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		f.invoke(t, "throttled", map[string]any{"op": "sleep", "n": 1000})
	}()
	for {
		if _, n := f.em.Environments("throttled"); n == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err := f.tryInvoke("throttled", map[string]any{"op": "echo"})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) {
		t.Fatalf("second invoke at reserved concurrency 1: %v, want TooManyRequestsException", err)
	}
	if tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded || aws.ToString(tm.RetryAfterSeconds) == "" {
		t.Errorf("reason %q, retry after %q", tm.Reason, aws.ToString(tm.RetryAfterSeconds))
	}
	<-busy
	f.invoke(t, "throttled", map[string]any{"op": "echo"})
}

func TestConcurrencyLimitOptionThrottles(t *testing.T) {
	f := newFixture(t, Options{ConcurrencyLimit: 1})
	f.create(t, "limited")
	go f.tryInvoke("limited", map[string]any{"op": "sleep", "n": 500})
	for {
		if _, n := f.em.Environments("limited"); n == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err := f.tryInvoke("limited", map[string]any{"op": "echo"})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonConcurrentInvocationLimitExceeded {
		t.Fatalf("invoke past the concurrency limit: %v", err)
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	before := childProcesses(t)
	f := newFixture(t, Options{})
	f.create(t, "a")
	f.create(t, "b")
	var wg sync.WaitGroup
	for _, n := range []string{"a", "a", "b"} {
		wg.Add(1)
		go func() { defer wg.Done(); f.tryInvoke(n, map[string]any{"op": "sleep", "n": 200}) }()
	}
	go f.tryInvoke("b", map[string]any{"op": "sleep", "n": 60000}) // still running at Close
	wg.Wait()
	if n := childProcesses(t); n < before+3 {
		t.Fatalf("%d child processes while 3+ environments live (before: %d)", n, before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.em.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.em.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := childProcesses(t); n != before {
		t.Errorf("%d child processes after Close, want %d", n, before)
	}
	prefix := fmt.Sprintf("lambda-%d-%d-", os.Getpid(), f.em.id)
	for _, ctrl := range []string{"cpu", "memory"} {
		ents, _ := os.ReadDir(filepath.Join("/sys/fs/cgroup", ctrl, "fusionize-sandbox"))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) {
				t.Errorf("cgroup %s/%s left after Close", ctrl, e.Name())
			}
		}
	}
	if _, err := f.tryInvoke("a", map[string]any{"op": "echo"}); err == nil {
		t.Error("invoke after Close succeeded")
	}
}
