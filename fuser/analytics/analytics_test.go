package analytics_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/internal/simulate"
	"github.com/fusionize/fusionize/fuser/profile"
)

var aws = setup.Place{Provider: "aws", Region: "us-east-1"}

func good(t0 time.Time) []span.Span {
	return []span.Span{
		{TraceID: "t", ID: 1, Task: "A", Group: "A", Start: t0, Duration: 100 * time.Millisecond, Wait: 50 * time.Millisecond},
		{TraceID: "t", ID: 2, ParentID: 1, Caller: "A", Task: "B", Remote: true, Group: "B", Start: t0.Add(20 * time.Millisecond), Duration: 30 * time.Millisecond},
	}
}

func TestValidateRejectsAndCounts(t *testing.T) {
	t0 := time.Unix(1000, 0)
	bad := func(mut func(*span.Span)) []span.Span {
		s := good(t0)
		mut(&s[1])
		return s
	}
	for _, tc := range []struct {
		name  string
		spans []span.Span
		want  analytics.Reason
	}{
		{"unknown task", bad(func(s *span.Span) { s.Task = "Z" }), analytics.UnknownTask},
		{"unknown caller", bad(func(s *span.Span) { s.Caller = "Z" }), analytics.UnknownTask},
		{"negative duration", bad(func(s *span.Span) { s.Duration = -1 }), analytics.BadDuration},
		{"negative wait", bad(func(s *span.Span) { s.Wait = -1 }), analytics.BadDuration},
		{"longer than 15 min", bad(func(s *span.Span) { s.Duration = 16 * time.Minute }), analytics.BadDuration},
		{"wait exceeds duration", bad(func(s *span.Span) { s.Wait = time.Second }), analytics.WaitTooLong},
		{"duplicate id", append(good(t0), good(t0)[1]), analytics.DuplicateID},
		{"child starts before parent", bad(func(s *span.Span) { s.Start = t0.Add(-2 * time.Second) }), analytics.ClockSkew},
		{"sync child ends after parent", bad(func(s *span.Span) { s.Duration = 2 * time.Second }), analytics.ClockSkew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, rej := analytics.Validate(tc.spans, analytics.Options{Tasks: []string{"A", "B"}})
			if rej[tc.want] != 1 || rej.Total() != 1 || len(ok) != len(tc.spans)-1 {
				t.Fatalf("rejections %v, kept %d of %d; want one %q", rej, len(ok), len(tc.spans), tc.want)
			}
		})
	}
	t.Run("within tolerance and async outliving parent", func(t *testing.T) {
		s := good(t0)
		s[1].Start = t0.Add(-500 * time.Millisecond)
		s = append(s, span.Span{TraceID: "t", ID: 3, ParentID: 1, Caller: "A", Task: "B", Async: true, Remote: true, Group: "B", Start: t0.Add(90 * time.Millisecond), Duration: 5 * time.Second})
		if _, rej := analytics.Validate(s, analytics.Options{Tasks: []string{"A", "B"}}); rej.Total() != 0 {
			t.Fatalf("rejected %v", rej)
		}
	})
}

func TestAnalyzeHandMadeTrace(t *testing.T) {
	s := &setup.Setup{Version: 3, Groups: []setup.Group{{Name: "A", Place: aws}, {Name: "B", Place: aws}}}
	spans := good(time.Unix(1000, 0))
	spans[0].SetupVersion, spans[1].SetupVersion = 3, 3
	r := analytics.Analyze(spans, analytics.Options{Setups: []*setup.Setup{s}})
	if r.Requests != 1 || r.Latency[3].P50 != 100*time.Millisecond {
		t.Fatalf("requests %d latency %+v", r.Requests, r.Latency)
	}
	if got := r.Tasks["A"].Self.Mean; got != 50*time.Millisecond {
		t.Errorf("A self = %v", got)
	}
	e := r.Edges[analytics.Edge{Caller: "A", Callee: "B"}]
	if e == nil || e.Calls != 1 || e.SyncShare() != 1 || e.PerRequest != 1 || e.Remote != 1 {
		t.Fatalf("edge %+v", e)
	}
	// A waited 50 ms on a 30 ms callee: 20 ms of remote-call overhead.
	o := r.Overhead[analytics.Link{From: "aws/us-east-1", To: "aws/us-east-1"}]
	if o == nil || o.Mean != 20*time.Millisecond {
		t.Fatalf("overhead %+v", o)
	}
}

func TestAnalyzeSimulatedIoT(t *testing.T) {
	g := simulate.IoT()
	env := simulate.New(g, profile.Default(), 7)
	env.ColdRate = 0.05
	s := setup.Separate(1, g.TaskNames(), aws, 1769)
	spans := env.Run(s, 400)
	r := analytics.Analyze(spans, analytics.Options{Tasks: g.TaskNames(), Setups: []*setup.Setup{s}})
	if r.Rejected.Total() != 0 || r.Requests != 400 || r.Accepted != len(spans) {
		t.Fatalf("rejected %v, requests %d", r.Rejected, r.Requests)
	}
	for _, c := range g.Calls {
		e := r.Edges[analytics.Edge{Caller: c.From, Callee: c.To}]
		if e == nil || e.PerRequest != 1 {
			t.Fatalf("edge %s->%s: %+v", c.From, c.To, e)
		}
		if want := map[bool]float64{true: 0, false: 1}[c.Async]; e.SyncShare() != want {
			t.Errorf("edge %s->%s sync share %v", c.From, c.To, e.SyncShare())
		}
		if par := e.ParallelShare() > 0.9; par != c.Parallel {
			t.Errorf("edge %s->%s parallel share %v", c.From, c.To, e.ParallelShare())
		}
	}
	// Own time at one full vCPU is the ground-truth CPU + I/O time (±10% noise, mean 1).
	for _, task := range g.Tasks {
		want := task.CPUMs + task.IOMs
		got := float64(r.Tasks[task.Name].Self.Mean) / 1e6
		if math.Abs(got-want)/want > 0.05 {
			t.Errorf("%s own time %.2f ms, want ~%.2f", task.Name, got, want)
		}
	}
	// Overhead: invoke 12 ms + rtt 0.5 ms + ~1 KB payload.
	o, n := r.OverheadInto("aws/us-east-1")
	if n == 0 || o < 12*time.Millisecond || o > 13*time.Millisecond {
		t.Errorf("overhead into aws = %v from %d calls, want ~12.5ms", o, n)
	}
	if o := r.OverheadByProvider()["aws"]; o < 12*time.Millisecond || o > 13*time.Millisecond {
		t.Errorf("overhead into aws by provider = %v", o)
	}
	if r.ColdRate < 0.02 || r.ColdRate > 0.09 {
		t.Errorf("cold rate %v, want ~0.05", r.ColdRate)
	}
	if d := r.Latency[1]; !(d.P50 <= d.P95 && d.P95 <= d.P99 && d.P50 > 0) {
		t.Errorf("latency %+v", d)
	}
	if gs := r.Groups["I"]; gs == nil || gs.Invocations != 400 || gs.Billed < gs.Busy {
		t.Errorf("group I: %+v", gs)
	}
}

func TestPercentilesMatchSorting(t *testing.T) {
	for _, n := range []int{1, 2, 3, 17, 100, 1001, 5000} {
		var spans []span.Span
		for i := 0; i < n; i++ {
			d := time.Duration((i*7919)%n+1) * time.Millisecond // a permutation of 1..n ms
			spans = append(spans, span.Span{TraceID: string(rune('a'+i%26)) + time.Duration(i).String(), ID: 1, Task: "A", Duration: d})
		}
		r := analytics.Analyze(spans, analytics.Options{})
		rank := func(p float64) time.Duration {
			return time.Duration(max(int(math.Ceil(p*float64(n)))-1, 0)+1) * time.Millisecond
		}
		got := r.Tasks["A"].Self
		if got.P50 != rank(0.5) || got.P95 != rank(0.95) || got.P99 != rank(0.99) {
			t.Errorf("n=%d: p50/p95/p99 = %v/%v/%v, want %v/%v/%v", n, got.P50, got.P95, got.P99, rank(0.5), rank(0.95), rank(0.99))
		}
	}
}

func TestAddBillsKeepsPeakMemoryColdRateAndInitPerGroup(t *testing.T) {
	s := setup.Separate(3, []string{"A", "B"}, setup.Place{Provider: "aws", Region: "us-east-1"}, 256)
	s.Groups[0].Tasks = []string{"A", "B"}
	s.Groups = s.Groups[:1]
	g := s.Groups[0].Name
	bills := []cost.Bill{
		{Group: g, Billed: 120 * time.Millisecond, Cold: true, Init: 80 * time.Millisecond, MemoryMB: 256, MaxMemoryMB: 90},
		{Group: g, Billed: 20 * time.Millisecond, MemoryMB: 256, MaxMemoryMB: 96},
		{Group: g, Billed: 20 * time.Millisecond, MemoryMB: 256, MaxMemoryMB: 93},
		{Group: g, Billed: 30 * time.Millisecond, Cold: true, Init: 40 * time.Millisecond, MemoryMB: 256, MaxMemoryMB: 70},
		{Group: "not-in-the-setup", Billed: time.Second, MaxMemoryMB: 999},
	}
	r := analytics.Analyze(nil, analytics.Options{})
	r.AddBills(s, bills)
	ps := r.Platform[g]
	if ps == nil || len(r.Platform) != 1 {
		t.Fatalf("Platform = %+v, want one group %q", r.Platform, g)
	}
	if ps.Invocations != 4 || ps.PeakMemoryMB != 96 || ps.ColdRate() != 0.5 || ps.InitMean != 60*time.Millisecond || ps.Billed != 190*time.Millisecond {
		t.Errorf("got %+v (cold rate %v), want 4 invocations, peak 96 MB, cold rate 0.5, init 60ms, billed 190ms", ps, ps.ColdRate())
	}
	if !slices.Equal(ps.Tasks, []string{"A", "B"}) || !r.Billed {
		t.Errorf("tasks %v, billed %v", ps.Tasks, r.Billed)
	}
}

// A cold invocation's spans are its tasks' first calls in the new
// environment: each adds what it ran over its task's median in the group.
// A trace that invoked the group twice, a warm invocation and a failed
// cold one add nothing.
func TestAddFirstCallsTakesTheColdInvocationsSpans(t *testing.T) {
	east := setup.Place{Provider: "aws", Region: "us-east-1"}
	s := setup.Separate(1, []string{"api", "score"}, east, 512)
	s.Groups[0].Tasks, s.Groups = []string{"api", "score"}, s.Groups[:1]
	g := s.Groups[0].Name
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var spans []span.Span
	var bills []cost.Bill
	request := func(trace string, scoreMs int, cold, failed bool, invocations int) {
		for i := range invocations {
			id := uint64(10 * (i + 1))
			spans = append(spans,
				span.Span{TraceID: trace, ID: id, Task: "api", Group: g, SetupVersion: 1, MemoryMB: 512, Start: t0, Duration: ms(scoreMs + 2), Wait: ms(scoreMs)},
				span.Span{TraceID: trace, ID: id + 1, ParentID: id, Caller: "api", Task: "score", Group: g, SetupVersion: 1, MemoryMB: 512, Start: t0, Duration: ms(scoreMs)})
		}
		bills = append(bills, cost.Bill{Group: g, Place: east, MemoryMB: 512, Trace: trace, Cold: cold, Failed: failed, Duration: ms(scoreMs + 2)})
	}
	for i := range 9 {
		request(fmt.Sprintf("w%d", i), 70, false, false, 1)
	}
	request("cold", 9070, true, false, 1)
	request("twice", 5070, true, false, 2)
	request("failed", 3070, true, true, 1)
	r := analytics.Analyze(spans, analytics.Options{Tasks: []string{"api", "score"}, Setups: []*setup.Setup{s}})
	r.AddFirstCalls(spans, bills)
	for task, want := range map[string]time.Duration{"score": ms(9000), "api": 0} {
		cs := r.Tasks[task].ByConfig
		if len(cs) != 1 || cs[0].Config != (analytics.Config{Place: east.String(), MemoryMB: 512}) || cs[0].FirstCalls != 1 || cs[0].FirstExtra != want {
			t.Errorf("%s: ByConfig %+v, want one config %s 512 MB with 1 first call %v over the median", task, cs, east, want)
		}
	}
}

// An aggregate span (Count above 1, from a fused module's sampled calls)
// counts as the calls it stands for on its edge and its callee, and adds
// no timing sample: the report equals that of the same calls one by one
// in counts, payload and mean own time.
func TestAggregateSpanCountsItsCalls(t *testing.T) {
	t0 := time.Unix(1000, 0)
	one := func(id uint64, at time.Duration) span.Span {
		return span.Span{TraceID: "t", ID: id, ParentID: 1, Caller: "A", Task: "B", Group: "g", Start: t0.Add(at), Duration: time.Millisecond, InputBytes: 10, OutputBytes: 20}
	}
	entry := span.Span{TraceID: "t", ID: 1, Task: "A", Group: "g", Start: t0, Duration: 100 * time.Millisecond, Wait: 10 * time.Millisecond}
	separate := []span.Span{entry}
	for i := range 10 {
		separate = append(separate, one(uint64(2+i), time.Duration(i)*2*time.Millisecond))
	}
	agg := one(3, 2*time.Millisecond)
	agg.Count = 9
	aggregated := []span.Span{entry, one(2, 0), agg}
	opt := analytics.Options{Tasks: []string{"A", "B"}}
	want, got := analytics.Analyze(separate, opt), analytics.Analyze(aggregated, opt)
	e := analytics.Edge{Caller: "A", Callee: "B"}
	we, ge := want.Edges[e], got.Edges[e]
	if ge == nil || ge.Calls != 10 || ge.Calls != we.Calls || ge.Sync != we.Sync || ge.PayloadBytes != we.PayloadBytes || ge.PerRequest != we.PerRequest {
		t.Fatalf("edge A->B aggregated %+v, one by one %+v", ge, we)
	}
	wb, gb := want.Tasks["B"], got.Tasks["B"]
	if gb.Invocations != 10 || gb.Invocations != wb.Invocations || gb.Self.Mean != wb.Self.Mean || gb.Self.Count != 1 {
		t.Errorf("task B aggregated %+v, one by one %+v (Self from the one timed call)", gb, wb)
	}
	if got.Requests != 1 {
		t.Errorf("%d requests, want 1", got.Requests)
	}
}

func TestCPUTimeIsATasksWhereItRanAlone(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	// A (alone in its invocation) calls B remotely; B ran C in memory, so
	// B's invocation's CPU time is not B's alone. A second request's A
	// carries no CPU time (not measured).
	spans := []span.Span{
		{TraceID: "t", ID: 1, Task: "A", Group: "A", MemoryMB: 512, Start: t0, Duration: 100 * ms, Wait: 60 * ms, CPU: 30 * ms},
		{TraceID: "t", ID: 2, ParentID: 1, Caller: "A", Task: "B", Remote: true, Group: "BC", MemoryMB: 256, Start: t0.Add(10 * ms), Duration: 50 * ms, Wait: 20 * ms, CPU: 40 * ms},
		{TraceID: "t", ID: 3, ParentID: 2, Caller: "B", Task: "C", Group: "BC", MemoryMB: 256, Start: t0.Add(20 * ms), Duration: 20 * ms},
		{TraceID: "u", ID: 4, Task: "A", Group: "A", MemoryMB: 512, Start: t0.Add(time.Second), Duration: 10 * ms},
		{TraceID: "v", ID: 5, Task: "A", Group: "A", MemoryMB: 512, Start: t0.Add(2 * time.Second), Duration: 100 * ms, CPU: 10 * ms},
	}
	r := analytics.Analyze(spans, analytics.Options{Tasks: []string{"A", "B", "C"}})
	a := r.Tasks["A"].ByConfig
	if len(a) != 1 || a[0].Count != 3 || a[0].CPUCount != 2 || a[0].CPU != 20*ms {
		t.Errorf("A: %+v, want 3 invocations, 2 with CPU time, mean 20ms", a)
	}
	if g := r.Groups["BC"]; g == nil || g.CPUCount != 1 || g.CPU != 40*ms {
		t.Errorf("group BC: %+v, want one invocation of 40ms CPU time", g)
	}
	for _, task := range []string{"B", "C"} {
		if c := r.Tasks[task].ByConfig; len(c) != 1 || c[0].CPUCount != 0 || c[0].CPU != 0 {
			t.Errorf("%s: %+v, want no CPU time: B ran C in memory", task, c)
		}
	}
}
