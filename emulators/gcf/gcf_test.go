package gcf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	"cloud.google.com/go/functions/apiv2/functionspb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// shared is one emulator with functions most tests use, deployed once.
var shared struct {
	once sync.Once
	e    *Emulator
	c    *functions.FunctionClient
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.e != nil {
		shared.c.Close()
		if err := shared.e.Close(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "close shared emulator:", err)
			code = 1
		}
		if left := processesUnder(shared.e.opts.Dir); len(left) > 0 {
			fmt.Fprintln(os.Stderr, "processes left after Close:", left)
			code = 1
		}
		os.RemoveAll(shared.e.opts.Dir)
	}
	os.Exit(code)
}

func sharedEmulator(t *testing.T) (*Emulator, *functions.FunctionClient) {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "gcf-test-")
		if err != nil {
			shared.err = err
			return
		}
		shared.e, shared.c = newEmulator(t, Options{Dir: dir})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.e, shared.c
}

// sharedFunction deploys id once on the shared emulator.
var sharedFns sync.Map // id -> *functionspb.Function

func sharedFunction(t *testing.T, id, entry string, sc *functionspb.ServiceConfig) (*Emulator, *functionspb.Function) {
	t.Helper()
	e, c := sharedEmulator(t)
	if fn, ok := sharedFns.Load(id); ok {
		return e, fn.(*functionspb.Function)
	}
	fn := mustDeploy(t, c, id, entry, sc)
	sharedFns.Store(id, fn)
	return e, fn
}

func TestCreateGetListUpdateDeleteThroughRealClient(t *testing.T) {
	e, c := sharedEmulator(t)
	ctx := context.Background()
	fn, err := deploy(t, c, "crud-echo", "Echo", zipModule(t, "fn", true, nil), &functionspb.ServiceConfig{
		AvailableMemory: "256Mi", EnvironmentVariables: map[string]string{"GREETING": "one"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if fn.State != functionspb.Function_ACTIVE || fn.ServiceConfig.Uri == "" || fn.Url != fn.ServiceConfig.Uri {
		t.Fatalf("created function: state %v uri %q url %q", fn.State, fn.ServiceConfig.Uri, fn.Url)
	}
	if fn.ServiceConfig.AvailableCpu != "0.167" || fn.ServiceConfig.TimeoutSeconds != 60 || fn.ServiceConfig.MaxInstanceRequestConcurrency != 1 {
		t.Fatalf("defaults: cpu %q timeout %d concurrency %d", fn.ServiceConfig.AvailableCpu, fn.ServiceConfig.TimeoutSeconds, fn.ServiceConfig.MaxInstanceRequestConcurrency)
	}
	got, err := c.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: testParent + "/functions/crud-echo"})
	if err != nil || got.ServiceConfig.Revision != fn.ServiceConfig.Revision {
		t.Fatalf("get: %v %v", got, err)
	}
	resp, body := call(t, "POST", fn.ServiceConfig.Uri+"/some/path", strings.NewReader("ping"))
	want := fmt.Sprintf("POST /some/path ping rev=%s svc=crud-echo target=Echo data=hello env=one", fn.ServiceConfig.Revision)
	if resp.StatusCode != 200 || body != want {
		t.Fatalf("invoke: %s %q, want %q", resp.Status, body, want)
	}

	// List pages through every function and filters by label.
	_, err = deploy(t, c, "crud-labelled", "Echo", zipModule(t, "fn", true, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	upd, err := c.UpdateFunction(ctx, &functionspb.UpdateFunctionRequest{
		Function:   &functionspb.Function{Name: testParent + "/functions/crud-labelled", Labels: map[string]string{"team": "fuser"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waitOp[functionspb.Function](t, upd); err != nil {
		t.Fatal(err)
	}
	var names []string
	it := c.ListFunctions(ctx, &functionspb.ListFunctionsRequest{Parent: testParent, PageSize: 1})
	for {
		f, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
	}
	if !contains(names, testParent+"/functions/crud-echo") || !contains(names, testParent+"/functions/crud-labelled") {
		t.Fatalf("list: %v", names)
	}
	it = c.ListFunctions(ctx, &functionspb.ListFunctionsRequest{Parent: testParent, Filter: `labels.team="fuser"`})
	if f, err := it.Next(); err != nil || f.Name != testParent+"/functions/crud-labelled" {
		t.Fatalf("filtered list: %v %v", f, err)
	}
	if _, err := it.Next(); !errors.Is(err, iterator.Done) {
		t.Fatalf("filtered list has more than the labelled function: %v", err)
	}

	// Update the environment: a new revision serves it.
	op, err := c.UpdateFunction(ctx, &functionspb.UpdateFunctionRequest{
		Function: &functionspb.Function{Name: fn.Name, ServiceConfig: &functionspb.ServiceConfig{
			EnvironmentVariables: map[string]string{"GREETING": "two"}}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"service_config.environment_variables"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fn2, err := waitOp[functionspb.Function](t, op)
	if err != nil {
		t.Fatal(err)
	}
	if fn2.ServiceConfig.Revision == fn.ServiceConfig.Revision || fn2.ServiceConfig.AvailableMemory != "256Mi" {
		t.Fatalf("update: revision %q (was %q), memory %q", fn2.ServiceConfig.Revision, fn.ServiceConfig.Revision, fn2.ServiceConfig.AvailableMemory)
	}
	if _, body := call(t, "GET", fn.ServiceConfig.Uri, nil); !strings.HasSuffix(body, "env=two") || !strings.Contains(body, fn2.ServiceConfig.Revision) {
		t.Fatalf("after update: %q", body)
	}

	// Delete: the function is gone and its URL too.
	for _, id := range []string{"crud-echo", "crud-labelled"} {
		dop, err := c.DeleteFunction(ctx, &functionspb.DeleteFunctionRequest{Name: testParent + "/functions/" + id})
		if err != nil {
			t.Fatal(err)
		}
		for !dop.Done() {
			if err := dop.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := c.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: fn.Name}); status.Code(err) != codes.NotFound {
		t.Fatalf("get after delete: %v", err)
	}
	if resp, _ := call(t, "GET", fn.ServiceConfig.Uri, nil); resp.StatusCode != 404 {
		t.Fatalf("invoke after delete: %s", resp.Status)
	}
	if left := instances(e, "crud-echo"); left != 0 {
		t.Fatalf("%d instances after delete", left)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestCreateRejectsWhatCloudFunctionsRejects(t *testing.T) {
	_, c := sharedEmulator(t)
	_, fn := sharedFunction(t, "work", "Work", nil)
	src := upload(t, c, zipModule(t, "fn", true, nil))
	for _, tc := range []struct {
		name string
		id   string
		bc   *functionspb.BuildConfig
		sc   *functionspb.ServiceConfig
		code codes.Code
	}{
		{"id too short", "abc", nil, nil, codes.InvalidArgument},
		{"id starts with a digit", "1abc", nil, nil, codes.InvalidArgument},
		{"id with upper case", "Abcd", nil, nil, codes.InvalidArgument},
		{"not a Go runtime", "okay-id", &functionspb.BuildConfig{Runtime: "nodejs22", Source: src}, nil, codes.InvalidArgument},
		{"memory not a quantity", "okay-id", nil, &functionspb.ServiceConfig{AvailableMemory: "lots"}, codes.InvalidArgument},
		{"memory below 128Mi", "okay-id", nil, &functionspb.ServiceConfig{AvailableMemory: "64Mi"}, codes.InvalidArgument},
		{"timeout over 3600", "okay-id", nil, &functionspb.ServiceConfig{TimeoutSeconds: 3601}, codes.InvalidArgument},
		{"concurrency over 1 below 1 vCPU", "okay-id", nil, &functionspb.ServiceConfig{MaxInstanceRequestConcurrency: 2}, codes.InvalidArgument},
		{"reserved environment variable", "okay-id", nil, &functionspb.ServiceConfig{EnvironmentVariables: map[string]string{"PORT": "1"}}, codes.InvalidArgument},
		{"source never uploaded", "okay-id", &functionspb.BuildConfig{Runtime: "go126", Source: &functionspb.Source{Source: &functionspb.Source_StorageSource{
			StorageSource: &functionspb.StorageSource{Bucket: "b", Object: "nope.zip"}}}}, nil, codes.InvalidArgument},
		{"name taken", "work", nil, nil, codes.AlreadyExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bc := tc.bc
			if bc == nil {
				bc = &functionspb.BuildConfig{Runtime: "go126", EntryPoint: "Work", Source: src}
			}
			_, err := c.CreateFunction(context.Background(), &functionspb.CreateFunctionRequest{
				Parent: testParent, FunctionId: tc.id, Function: &functionspb.Function{BuildConfig: bc, ServiceConfig: tc.sc}})
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want code %v", err, tc.code)
			}
		})
	}
	_, err := c.GetFunction(context.Background(), &functionspb.GetFunctionRequest{Name: testParent + "/functions/missing"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("get missing: %v", err)
	}
	_, err = c.UpdateFunction(context.Background(), &functionspb.UpdateFunctionRequest{Function: &functionspb.Function{Name: fn.Name},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"service_config.no_such_field"}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("update with a bad mask path: %v", err)
	}
}

// brokenSource added to the test module makes it fail to compile.
var brokenSource = map[string]string{"broken.go": "package fn\n\nfunc Broken() { undefinedCall() }\n"}

func TestFailedBuildLeavesFunctionFailedWithBuildLog(t *testing.T) {
	_, c := sharedEmulator(t)
	ctx := context.Background()
	_, err := deploy(t, c, "broken", "Broken", zipModule(t, "fn", true, brokenSource), nil)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "undefinedCall") {
		t.Fatalf("operation error: %v", err)
	}
	fn, err := c.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: testParent + "/functions/broken"})
	if err != nil {
		t.Fatal(err)
	}
	if fn.State != functionspb.Function_FAILED || len(fn.StateMessages) == 0 || !strings.Contains(fn.StateMessages[0].Message, "undefined: undefinedCall") {
		t.Fatalf("state %v messages %v", fn.State, fn.StateMessages)
	}
}

func TestFailedUpdateKeepsPreviousRevisionServing(t *testing.T) {
	_, c := sharedEmulator(t)
	fn := mustDeploy(t, c, "keeps-serving", "Echo", nil)
	op, err := c.UpdateFunction(context.Background(), &functionspb.UpdateFunctionRequest{
		Function:   &functionspb.Function{Name: fn.Name, BuildConfig: &functionspb.BuildConfig{Runtime: "go126", EntryPoint: "Echo", Source: upload(t, c, zipModule(t, "fn", true, brokenSource))}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"build_config.source"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waitOp[functionspb.Function](t, op); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("update with broken source: %v", err)
	}
	got, _ := c.GetFunction(context.Background(), &functionspb.GetFunctionRequest{Name: fn.Name})
	if got.State != functionspb.Function_FAILED {
		t.Fatalf("state %v", got.State)
	}
	if resp, body := call(t, "GET", fn.ServiceConfig.Uri, nil); resp.StatusCode != 200 || !strings.Contains(body, fn.ServiceConfig.Revision) {
		t.Fatalf("previous revision: %s %q", resp.Status, body)
	}
}

func TestSecondConcurrentRequestStartsSecondInstance(t *testing.T) {
	e, fn := sharedFunction(t, "work", "Work", nil)
	first := make(chan *http.Response)
	go func() { r, _ := call(t, "GET", fn.Url+"?sleep=1500", nil); first <- r }()
	waitFor(t, "the first request in flight", func() bool { return inflight(e, "work") == 1 })
	r2, _ := call(t, "GET", fn.Url, nil)
	r1 := <-first
	if r1.StatusCode != 200 || r2.StatusCode != 200 {
		t.Fatalf("status %s, %s", r1.Status, r2.Status)
	}
	if a, b := r1.Header.Get("X-Emulator-Instance"), r2.Header.Get("X-Emulator-Instance"); a == b || r2.Header.Get("X-Emulator-Cold") != "1" {
		t.Fatalf("second request on instance %q (first %q), cold %q", b, a, r2.Header.Get("X-Emulator-Cold"))
	}
}

func TestConcurrencySettingSharesOneInstance(t *testing.T) {
	e, fn := sharedFunction(t, "work-concurrent", "Work", &functionspb.ServiceConfig{AvailableCpu: "1", MaxInstanceRequestConcurrency: 3})
	var wg sync.WaitGroup
	ids := make([]string, 3)
	call(t, "GET", fn.Url, nil) // one instance up
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := call(t, "GET", fn.Url+"?sleep=1000", nil)
			ids[i] = r.Header.Get("X-Emulator-Instance")
		}()
	}
	waitFor(t, "three requests in flight", func() bool { return inflight(e, "work-concurrent") == 3 })
	wg.Wait()
	if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("instances %q, want one instance for 3 requests at concurrency 3", ids)
	}
}

func TestMaxInstancesRejectsWith429(t *testing.T) {
	e, fn := sharedFunction(t, "work-max1", "Work", &functionspb.ServiceConfig{MaxInstanceCount: 1})
	first := make(chan *http.Response)
	go func() { r, _ := call(t, "GET", fn.Url+"?sleep=2000", nil); first <- r }()
	waitFor(t, "the first request in flight", func() bool { return inflight(e, "work-max1") == 1 })
	r2, body := call(t, "GET", fn.Url, nil)
	if r2.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "no available instance") {
		t.Fatalf("second request: %s %q", r2.Status, body)
	}
	if r1 := <-first; r1.StatusCode != 200 {
		t.Fatalf("first request: %s", r1.Status)
	}
	if n := instances(e, "work-max1"); n != 1 {
		t.Fatalf("%d instances, max is 1", n)
	}
}

func TestOutOfMemoryFails500AndDiscardsInstance(t *testing.T) {
	e, fn := sharedFunction(t, "work-128", "Work", &functionspb.ServiceConfig{AvailableMemory: "128Mi", AvailableCpu: "1"})
	r0, _ := call(t, "GET", fn.Url, nil)
	r, body := call(t, "GET", fn.Url+"?alloc=160", nil)
	if r.StatusCode != 500 || !strings.Contains(body, "Memory limit of 128 MiB exceeded") {
		t.Fatalf("over memory: %s %q", r.Status, body)
	}
	if r.Header.Get("X-Emulator-Instance") != r0.Header.Get("X-Emulator-Instance") {
		t.Fatalf("ran on another instance than the warm one")
	}
	r2, _ := call(t, "GET", fn.Url, nil)
	if r2.StatusCode != 200 || r2.Header.Get("X-Emulator-Cold") != "1" || r2.Header.Get("X-Emulator-Instance") == r.Header.Get("X-Emulator-Instance") {
		t.Fatalf("after OOM: %s cold %q", r2.Status, r2.Header.Get("X-Emulator-Cold"))
	}
	last := e.Requests("work-128")
	if rep := last[len(last)-2]; rep.Status != 500 || !strings.Contains(rep.Error, "out of memory") {
		t.Fatalf("report of the OOM request: %+v", rep)
	}
}

func TestInstanceKilledMidRequestAnswers503(t *testing.T) {
	_, fn := sharedFunction(t, "work", "Work", nil)
	r, body := call(t, "GET", fn.Url+"?exit=1", nil)
	if r.StatusCode != 503 || !strings.Contains(body, "connection to the instance had an error") {
		t.Fatalf("killed mid-request: %s %q", r.Status, body)
	}
	if r2, _ := call(t, "GET", fn.Url, nil); r2.StatusCode != 200 || r2.Header.Get("X-Emulator-Instance") == r.Header.Get("X-Emulator-Instance") {
		t.Fatalf("after the kill: %s on %q", r2.Status, r2.Header.Get("X-Emulator-Instance"))
	}
}

func TestPanicAnswers500AndInstanceServesOn(t *testing.T) {
	_, fn := sharedFunction(t, "work", "Work", nil)
	r, _ := call(t, "GET", fn.Url+"?panic=1", nil)
	r2, _ := call(t, "GET", fn.Url, nil)
	if r.StatusCode != 500 || r2.StatusCode != 200 || r2.Header.Get("X-Emulator-Instance") != r.Header.Get("X-Emulator-Instance") {
		t.Fatalf("panic: %s then %s", r.Status, r2.Status)
	}
}

func TestTimeoutAnswers504AndDiscardsInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("takes the 1 s timeout")
	}
	_, fn := sharedFunction(t, "work-timeout", "Work", &functionspb.ServiceConfig{TimeoutSeconds: 1})
	r, body := call(t, "GET", fn.Url+"?sleep=5000", nil)
	if r.StatusCode != 504 || !strings.Contains(body, "upstream request timeout") {
		t.Fatalf("timeout: %s %q", r.Status, body)
	}
	if r2, _ := call(t, "GET", fn.Url, nil); r2.Header.Get("X-Emulator-Instance") == r.Header.Get("X-Emulator-Instance") {
		t.Fatal("the timed-out instance served again")
	}
}

func TestRequestOrResponseOver32MBAnswers413(t *testing.T) {
	_, fn := sharedFunction(t, "work", "Work", nil)
	if r, _ := call(t, "POST", fn.Url, bytes.NewReader(make([]byte, 32<<20+1))); r.StatusCode != 413 {
		t.Fatalf("request over 32 MB: %s", r.Status)
	}
	if r, _ := call(t, "GET", fn.Url+"?big=33", nil); r.StatusCode != 413 {
		t.Fatalf("response over 32 MB: %s", r.Status)
	}
	if r, body := call(t, "GET", fn.Url+"?big=31", nil); r.StatusCode != 200 || len(body) != 31<<20 {
		t.Fatalf("response of 31 MB: %s %d bytes", r.Status, len(body))
	}
}

func TestBillingRoundsUpTo100msAndIsListed(t *testing.T) {
	e, fn := sharedFunction(t, "work", "Work", nil)
	call(t, "GET", fn.Url, nil) // warm
	r, _ := call(t, "GET", fn.Url+"?sleep=130", nil)
	dur, _ := strconv.ParseFloat(r.Header.Get("X-Emulator-Duration-Ms"), 64)
	bill, _ := strconv.Atoi(r.Header.Get("X-Emulator-Billed-Ms"))
	if r.Header.Get("X-Emulator-Cold") == "1" || dur <= 0 || bill%100 != 0 || float64(bill) < dur || float64(bill)-dur >= 100 {
		t.Fatalf("duration %v ms billed %d ms (cold %q)", dur, bill, r.Header.Get("X-Emulator-Cold"))
	}
	resp, err := http.Get("http://" + e.HTTPAddr() + "/emulator/v1/requests?function=" + fn.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Emulated bool      `json:"emulated"`
		Requests []Request `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	rep := list.Requests[len(list.Requests)-1]
	wantCost := float64(bill)/1000*0.167*PricePerVCPUSecond + float64(bill)/1000*(256e6/(1<<30))*PricePerGiBSecond + PricePerRequest
	if !list.Emulated || !rep.Emulated || rep.Billed != time.Duration(bill)*time.Millisecond || rep.MemoryMB != 245 ||
		rep.CostUSD < wantCost*0.999 || rep.CostUSD > wantCost*1.001 || rep.MaxMemoryMB <= 0 {
		t.Fatalf("report %+v, want billed %d ms, cost %g", rep, bill, wantCost)
	}
}

func TestUpdateSwitchesRevisionWithNoFailedRequestUnderLoad(t *testing.T) {
	_, c := sharedEmulator(t)
	fn := mustDeploy(t, c, "switch-echo", "Echo", &functionspb.ServiceConfig{EnvironmentVariables: map[string]string{"GREETING": "old"}})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	sawNew := false
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, body := call(t, "POST", fn.Url, strings.NewReader("x"))
				mu.Lock()
				if r.StatusCode != 200 {
					failures = append(failures, r.Status+" "+body)
				}
				sawNew = sawNew || strings.HasSuffix(body, "env=new")
				mu.Unlock()
			}
		}()
	}
	op, err := c.UpdateFunction(context.Background(), &functionspb.UpdateFunctionRequest{
		Function:   &functionspb.Function{Name: fn.Name, ServiceConfig: &functionspb.ServiceConfig{EnvironmentVariables: map[string]string{"GREETING": "new"}}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"service_config.environment_variables"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waitOp[functionspb.Function](t, op); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a response from the new revision", func() bool { mu.Lock(); defer mu.Unlock(); return sawNew })
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d failed requests during the switch, first: %s", len(failures), failures[0])
	}
	if _, body := call(t, "GET", fn.Url, nil); !strings.HasSuffix(body, "env=new") {
		t.Fatalf("after the switch: %q", body)
	}
}

// fastStart gives a function a whole vCPU so that its cold starts are quick.
var fastStart = &functionspb.ServiceConfig{AvailableMemory: "2Gi"}

func TestIdleInstanceReusedThenReclaimedAfterKeepAlive(t *testing.T) {
	e, c := newEmulator(t, Options{KeepAlive: 300 * time.Millisecond})
	defer e.Close(context.Background())
	defer c.Close()
	fn := mustDeploy(t, c, "keepalive", "Work", fastStart)
	r1, _ := call(t, "GET", fn.Url, nil)
	r2, _ := call(t, "GET", fn.Url, nil)
	if r1.Header.Get("X-Emulator-Cold") != "1" || r2.Header.Get("X-Emulator-Cold") == "1" ||
		r1.Header.Get("X-Emulator-Instance") != r2.Header.Get("X-Emulator-Instance") {
		t.Fatalf("second request did not reuse the idle instance: %v / %v", r1.Header, r2.Header)
	}
	waitFor(t, "the idle instance reclaimed", func() bool { return instances(e, "keepalive") == 0 })
	if r3, _ := call(t, "GET", fn.Url, nil); r3.Header.Get("X-Emulator-Cold") != "1" {
		t.Fatal("request after the keep-alive was not a cold start")
	}
}

func TestForcedColdStartEveryRequestAddsLabelledSandboxDelay(t *testing.T) {
	e, c := newEmulator(t, Options{ForceColdStart: true, SandboxDelay: 20 * time.Millisecond})
	defer e.Close(context.Background())
	defer c.Close()
	fn := mustDeploy(t, c, "forced-cold", "Work", fastStart)
	seen := map[string]bool{}
	for range 3 {
		r, _ := call(t, "GET", fn.Url, nil)
		if r.StatusCode != 200 || r.Header.Get("X-Emulator-Cold") != "1" || r.Header.Get("X-Emulator-Sandbox-Delay-Ms") != "20" || seen[r.Header.Get("X-Emulator-Instance")] {
			t.Fatalf("request not a fresh cold start: %s %v", r.Status, r.Header)
		}
		seen[r.Header.Get("X-Emulator-Instance")] = true
	}
	for _, rep := range e.Requests("forced-cold") {
		if !rep.Cold || rep.Init <= 0 || rep.SandboxDelay != 20*time.Millisecond {
			t.Fatalf("report %+v", rep)
		}
	}
}

func TestCloseStopsEveryInstanceAndIsIdempotent(t *testing.T) {
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	e, c := newEmulator(t, Options{})
	fn := mustDeploy(t, c, "closing", "Work", fastStart)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := http.Get(fn.Url + "?sleep=10000"); err == nil {
				resp.Body.Close()
			}
		}()
	}
	waitFor(t, "three instances busy", func() bool { return inflight(e, "closing") == 3 })
	if len(processesUnder(e.opts.Dir)) != 3 {
		t.Fatalf("processes: %v", processesUnder(e.opts.Dir))
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if left := processesUnder(e.opts.Dir); len(left) > 0 {
		t.Fatalf("processes left after Close: %v", left)
	}
	c.Close()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the emulator:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUploadURLTakesOneZipPutWithItsContentType(t *testing.T) {
	_, c := sharedEmulator(t)
	u, err := c.GenerateUploadUrl(context.Background(), &functionspb.GenerateUploadUrlRequest{Parent: testParent})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.StorageSource.Bucket, "gcf-v2-uploads-test-project") || !strings.HasSuffix(u.StorageSource.Object, ".zip") {
		t.Fatalf("storage source %v", u.StorageSource)
	}
	put := func(ct string) int {
		req, _ := http.NewRequest(http.MethodPut, u.UploadUrl, strings.NewReader("PK"))
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := put("application/octet-stream"); got != http.StatusForbidden {
		t.Fatalf("PUT with another content type: %d", got)
	}
	if got := put("application/zip"); got != http.StatusOK {
		t.Fatalf("PUT: %d", got)
	}
	if got := put("application/zip"); got != http.StatusForbidden {
		t.Fatalf("second PUT to the same URL: %d", got)
	}
	_, err = deploy(t, c, "not-a-zip", "Echo", []byte("not a zip"), nil)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "unpack source") {
		t.Fatalf("deploy of a non-zip: %v", err)
	}
}

func TestSourceWithoutVendorBuildsFromModuleCache(t *testing.T) {
	if testing.Short() {
		t.Skip("a second full build")
	}
	_, c := sharedEmulator(t)
	fn, err := deploy(t, c, "no-vendor", "Echo", zipModule(t, "fn", false, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, body := call(t, "GET", fn.Url, nil); r.StatusCode != 200 || !strings.Contains(body, "target=Echo data=hello") {
		t.Fatalf("invoke: %s %q", r.Status, body)
	}
}

func TestRequestsCarryTheirTraceAndTheMachinesStretch(t *testing.T) {
	e, c := newEmulator(t, Options{ForceColdStart: true, SandboxDelay: 20 * time.Millisecond})
	defer e.Close(context.Background())
	defer c.Close()
	fn := mustDeploy(t, c, "traced", "Work", fastStart)
	headers := []http.Header{
		{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
		{"X-Cloud-Trace-Context": {"105445AA7843BC8BF206B12000100000/1;o=1"}},
		{},
	}
	var walls []time.Duration
	for _, h := range headers {
		req, err := http.NewRequest("GET", fn.Url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h
		began := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		walls = append(walls, time.Since(began))
	}
	reps := e.Requests("traced")
	want := []string{"4bf92f3577b34da6a3ce929d0e0e4736", "105445aa7843bc8bf206b12000100000", ""}
	if len(reps) != len(want) {
		t.Fatalf("%d requests reported, want %d", len(reps), len(want))
	}
	for i, rep := range reps {
		if rep.Trace != want[i] {
			t.Errorf("request %d: trace %q, want %q", i, rep.Trace, want[i])
		}
		// The stretch is the part of the wall time the client waited that
		// the emulated durations leave out.
		if emulated := rep.SandboxDelay + rep.Init + rep.Duration; rep.Stretch < 0 || rep.Stretch > walls[i]-emulated {
			t.Errorf("request %d: stretch %v of an answer the client waited %v for (%v emulated)", i, rep.Stretch, walls[i], emulated)
		}
		if rep.WallDuration < rep.Duration || rep.WallDuration > walls[i] {
			t.Errorf("request %d: wall duration %v against emulated %v and the client's %v", i, rep.WallDuration, rep.Duration, walls[i])
		}
	}
}
