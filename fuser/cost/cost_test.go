package cost_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/cost"
)

var (
	aws   = setup.Place{Provider: "aws", Region: "us-east-1"}
	awsA  = setup.Place{Provider: "aws", Region: "us-east-1", Arch: "arm64"}
	gcp   = setup.Place{Provider: "gcp", Region: "us-east4"}
	local = setup.Place{Provider: "local"}
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12+1e-9*math.Abs(b) }

func TestBilledRoundsUpToGranularity(t *testing.T) {
	p := cost.Default()
	for _, tc := range []struct {
		place setup.Place
		d     time.Duration
		want  time.Duration
	}{
		{aws, 1500 * time.Microsecond, 2 * time.Millisecond},
		{aws, 3 * time.Millisecond, 3 * time.Millisecond},
		{gcp, 1 * time.Millisecond, 100 * time.Millisecond},
		{gcp, 101 * time.Millisecond, 200 * time.Millisecond},
		{local, 1500 * time.Microsecond, 2 * time.Millisecond},
		{aws, -time.Second, 0},
	} {
		got, err := p.Billed(tc.place, tc.d)
		if err != nil || got != tc.want {
			t.Errorf("Billed(%v, %v) = %v, %v; want %v", tc.place, tc.d, got, err, tc.want)
		}
	}
}

func TestInvocationPrices(t *testing.T) {
	p := cost.Default()
	for _, tc := range []struct {
		name  string
		place setup.Place
		mem   int
		d     time.Duration
		want  float64
	}{
		{"lambda x86 1 GB for 1 s", aws, 1024, time.Second, 0.2e-6 + 0.0000166667},
		{"lambda arm64 2 GB for 0.5 s", awsA, 2048, 500 * time.Millisecond, 0.2e-6 + 0.0000133334},
		{"gcp 1 GiB (0.583 vCPU) for 50 ms bills 100 ms", gcp, 1024, 50 * time.Millisecond, 0.4e-6 + 0.1*(0.583*0.000024+0.0000025)},
		{"gcp 8 GiB is 2 vCPU", gcp, 8192, time.Second, 0.4e-6 + 2*0.000024 + 8*0.0000025},
		{"local is free", local, 1024, time.Hour, 0},
	} {
		got, err := p.Invocation(tc.place, tc.mem, tc.d)
		if err != nil || !near(got, tc.want) {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := p.Invocation(setup.Place{Provider: "azure"}, 128, time.Second); !errors.Is(err, cost.ErrUnknownProvider) {
		t.Errorf("unknown provider: err = %v", err)
	}
}

func TestVCPUTable(t *testing.T) {
	tbl := cost.DefaultGCPVCPU()
	for mem, want := range map[int]float64{100: 0.083, 128: 0.083, 129: 0.167, 512: 0.333, 2048: 1, 3000: 2, 16384: 2} {
		if got := cost.VCPU(tbl, mem); got != want {
			t.Errorf("VCPU(%d) = %v, want %v", mem, got, want)
		}
	}
}

// trace builds the spans of one request: entry A (remote sync to B, which
// calls C in memory), with B waiting on C.
func trace(id string) []span.Span {
	t0 := time.Unix(0, 0)
	return []span.Span{
		{TraceID: id, ID: 1, Task: "A", Group: "gA", Start: t0, Duration: 100 * time.Millisecond, Wait: 60 * time.Millisecond, MemoryMB: 1024},
		{TraceID: id, ID: 2, ParentID: 1, Caller: "A", Task: "B", Remote: true, Group: "gB", Start: t0.Add(10 * time.Millisecond), Duration: 40 * time.Millisecond, MemoryMB: 2048},
		{TraceID: id, ID: 3, ParentID: 2, Caller: "B", Task: "C", Group: "gB", Start: t0.Add(15 * time.Millisecond), Duration: 20 * time.Millisecond, MemoryMB: 2048},
		// in-memory async task that outlives its invocation's entry task.
		{TraceID: id, ID: 4, ParentID: 2, Caller: "B", Task: "D", Async: true, Group: "gB", Start: t0.Add(45 * time.Millisecond), Duration: 25 * time.Millisecond, MemoryMB: 2048},
	}
}

func TestRequestBillsWaitingCallersAndExtendsForAsync(t *testing.T) {
	p := cost.Default()
	s := &setup.Setup{Version: 0, Groups: []setup.Group{{Name: "gA", Place: aws}, {Name: "gB", Place: aws}}}
	got, err := p.Request(trace("t"), cost.PlacesOf(s))
	if err != nil {
		t.Fatal(err)
	}
	// A: 100 ms at 1 GB (its 60 ms wait is billed); B: 10..70 ms = 60 ms at 2 GB.
	want := 2*0.2e-6 + 0.1*1*0.0000166667 + 0.06*2*0.0000166667
	if !near(got, want) {
		t.Fatalf("Request = %v, want %v", got, want)
	}
	sum, err := p.Summarize(append(trace("t1"), trace("t2")...), cost.PlacesOf(s))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests != 2 || sum.Invocations != 4 || !near(sum.PerMillion, want*1e6) {
		t.Fatalf("Summarize = %+v, want 2 requests, 4 invocations, %v per million", sum, want*1e6)
	}
	if _, err := p.Request(trace("t"), cost.PlacesOf()); !errors.Is(err, cost.ErrUnknownGroup) {
		t.Fatalf("no places: err = %v", err)
	}
}

// An invocation that dispatched a remote async call in the background runs
// until that call was handed over (the callee's start), not only until its
// entry task returned.
func TestRequestBillsAnInvocationUntilItsAsyncCallsAreHandedOver(t *testing.T) {
	p := cost.Default()
	s := &setup.Setup{Version: 0, Groups: []setup.Group{{Name: "gA", Place: aws}, {Name: "gB", Place: aws}}}
	const ms = time.Millisecond
	t0 := time.Unix(0, 0)
	spans := []span.Span{
		{TraceID: "t", ID: 1, Task: "A", Group: "gA", Start: t0, Duration: 20 * ms, MemoryMB: 1024},
		{TraceID: "t", ID: 2, ParentID: 1, Caller: "A", Task: "M", Group: "gA", Start: t0.Add(5 * ms), Duration: 5 * ms, MemoryMB: 1024},
		// M's remote async call, handed over 30 ms in.
		{TraceID: "t", ID: 3, ParentID: 2, Caller: "M", Task: "B", Async: true, Remote: true, Group: "gB", Start: t0.Add(30 * ms), Duration: 10 * ms, MemoryMB: 1024},
	}
	got, err := p.Request(spans, cost.PlacesOf(s))
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.AsyncFee(aws)
	if err != nil {
		t.Fatal(err)
	}
	want := 2*0.2e-6 + 0.030*0.0000166667 + 0.010*0.0000166667 + q
	if !near(got, want) {
		t.Fatalf("Request = %v, want %v (A billed 30 ms, to the async call's start)", got, want)
	}
}

func TestParsePricesOverlaysDefaults(t *testing.T) {
	p, err := cost.ParsePrices([]byte(`{"local": {"perGBSecond": 0.00001}, "aws": {"perMillionRequests": 0.25}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Local.PerGBSecond != 0.00001 || p.AWS.PerMillionRequests != 0.25 || p.AWS.X86PerGBSecond != cost.LambdaX86PerGBSecond {
		t.Fatalf("got %+v", p)
	}
	for _, bad := range []string{`{"aws": {"x86PerGBSecond": -1}}`, `{"gcp": {"vcpu": []}}`, `{"gcp": {"vcpu": [{"memoryMB": 256, "vcpu": 1}, {"memoryMB": 128, "vcpu": 1}]}}`, `{"azure": {}}`, `[`} {
		if _, err := cost.ParsePrices([]byte(bad)); err == nil {
			t.Errorf("ParsePrices(%s) accepted", bad)
		}
	}
}

func FuzzParsePrices(f *testing.F) {
	f.Add([]byte(`{"aws": {"x86PerGBSecond": 0.00002, "granularityMs": 1}}`))
	f.Add([]byte(`{"gcp": {"vcpu": [{"memoryMB": 128, "vcpu": 0.1}]}}`))
	f.Add([]byte(`{"local": {"perMillionRequests": 1e300}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := cost.ParsePrices(data)
		if err != nil {
			return
		}
		for _, pl := range []setup.Place{aws, awsA, gcp, local} {
			c, err := p.Invocation(pl, 1024, 123*time.Millisecond)
			if err != nil || c < 0 || math.IsNaN(c) {
				t.Fatalf("accepted prices give Invocation(%v) = %v, %v", pl, c, err)
			}
		}
	})
}

func ExamplePrices_Invocation() {
	p := cost.Default()
	c, _ := p.Invocation(setup.Place{Provider: "aws", Region: "us-east-1"}, 1024, 200*time.Millisecond)
	fmt.Printf("$%.8f\n", c)
	// Output: $0.00000353
}

func TestAsyncCallToCloudFunctionPaysItsQueue(t *testing.T) {
	p := cost.Default()
	gcpPlace := setup.Place{Provider: "gcp"}
	s := &setup.Setup{Groups: []setup.Group{{Name: "gA", Place: gcpPlace}, {Name: "gB", Place: gcpPlace}}}
	t0 := time.Unix(0, 0)
	spans := func(async bool) []span.Span {
		return []span.Span{
			{TraceID: "t", ID: 1, Task: "A", Group: "gA", Start: t0, Duration: 50 * time.Millisecond, MemoryMB: 256},
			{TraceID: "t", ID: 2, ParentID: 1, Caller: "A", Task: "B", Async: async, Remote: true, Group: "gB", Start: t0, Duration: 50 * time.Millisecond, MemoryMB: 256},
		}
	}
	syncCost, err := p.Request(spans(false), cost.PlacesOf(s))
	if err != nil {
		t.Fatal(err)
	}
	asyncCost, err := p.Request(spans(true), cost.PlacesOf(s))
	if err != nil {
		t.Fatal(err)
	}
	// Two Cloud Tasks operations (create, deliver) at $0.40 per million.
	if d := asyncCost - syncCost; math.Abs(d-0.8e-6) > 1e-12 {
		t.Fatalf("async call costs %g more than sync, want 0.8e-6", d)
	}
}

func TestPricePricesWhatThePlatformBilled(t *testing.T) {
	p := cost.Default()
	// Lambda's REPORT: Billed Duration 100 ms at 1024 MB.
	c, err := p.Price(cost.Bill{Group: "g", Place: aws, Duration: 37 * time.Millisecond, Billed: 100 * time.Millisecond, MemoryMB: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.1*p.AWS.X86PerGBSecond + p.AWS.PerMillionRequests/1e6; !near(c, want) {
		t.Errorf("Price = %g, want %g (billed 100 ms, not the 37 ms run)", c, want)
	}
	if _, err := p.Price(cost.Bill{Group: "g", Place: setup.Place{Provider: "azure"}}); err == nil || !strings.Contains(err.Error(), `"g"`) {
		t.Errorf("unknown provider: err = %v, want one naming the group", err)
	}
}
