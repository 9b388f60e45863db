package lambda

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func invokeEvent(t *testing.T, f *fixture, name string, ev map[string]any) *awslambda.InvokeOutput {
	t.Helper()
	payload, _ := json.Marshal(ev)
	out, err := f.client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String(name), Payload: payload, InvocationType: types.InvocationTypeEvent})
	if err != nil {
		t.Fatalf("Event invoke %s: %v", name, err)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEventInvocationIsAcceptedAndRuns(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "ev")
	if out := invokeEvent(t, f, "ev", map[string]any{"op": "echo"}); out.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202", out.StatusCode)
	}
	waitFor(t, "the event's report", func() bool { return len(f.em.Reports("ev")) == 1 })
	if r := f.em.Reports("ev")[0]; !r.Async || r.Status != "success" {
		t.Errorf("report %+v", r)
	}
	waitFor(t, "no event pending", func() bool { return f.em.PendingEvents() == 0 })
	if d := f.em.DeadLetters(); len(d) != 0 {
		t.Errorf("dead letters %+v", d)
	}
}

func TestFailingEventIsRetriedTwiceThenDeadLettered(t *testing.T) {
	f := newFixture(t, Options{RetryDelays: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}})
	f.create(t, "evfail")
	invokeEvent(t, f, "evfail", map[string]any{"op": "error", "value": "always"})
	waitFor(t, "a dead letter", func() bool { return len(f.em.DeadLetters()) == 1 })
	d := f.em.DeadLetters()[0]
	if d.Attempts != 3 || d.ErrorType != "errorString" || d.ErrorMessage != "boom: always" || d.Function != "evfail" {
		t.Errorf("dead letter %+v", d)
	}
	if n := len(f.em.Reports("evfail")); n != 3 {
		t.Errorf("%d reports, want 3 attempts", n)
	}
	resp, err := http.Get(f.url + "/emulator/v1/dead-letters")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []DeadLetter
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || len(got) != 1 || got[0].RequestID != d.RequestID {
		t.Errorf("GET /emulator/v1/dead-letters: %+v %v", got, err)
	}
}

func TestCloseRunsQueuedEventsOrDeadLettersThem(t *testing.T) {
	f := newFixture(t, Options{ConcurrencyLimit: 1, RetryDelays: []time.Duration{time.Hour}})
	f.create(t, "drain")
	for i := 0; i < 3; i++ {
		invokeEvent(t, f, "drain", map[string]any{"op": "sleep", "n": 50})
	}
	invokeEvent(t, f, "drain", map[string]any{"op": "error", "value": "retry later"})
	// The failing event waits an hour for its retry: it stays pending.
	if n := f.em.PendingEvents(); n < 1 {
		t.Errorf("%d events pending with one waiting for its retry", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.em.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, r := range f.em.Reports("drain") {
		if r.Status == "success" {
			ok++
		}
	}
	d := f.em.DeadLetters()
	if ok != 3 || len(d) != 1 || d[0].Reason == "" {
		t.Errorf("after Close: %d events succeeded, dead letters %+v; want 3 and one with a reason", ok, d)
	}
	t.Logf("dead letter reason: %s", d[0].Reason)
}

func TestCloseWithEndedContextDeadLettersQueuedEvents(t *testing.T) {
	f := newFixture(t, Options{ConcurrencyLimit: 1})
	f.create(t, "abort")
	for i := 0; i < 3; i++ {
		invokeEvent(t, f, "abort", map[string]any{"op": "sleep", "n": 2000})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	f.em.Close(ctx)
	d := f.em.DeadLetters()
	if len(d)+countSuccess(f.em.Reports("abort")) != 3 {
		t.Errorf("3 events accepted, %d dead letters and %d successes: an event was lost", len(d), countSuccess(f.em.Reports("abort")))
	}
	for _, x := range d {
		if x.Reason == "" {
			t.Errorf("dead letter without a reason: %+v", x)
		}
	}
}

func countSuccess(rs []Report) int {
	n := 0
	for _, r := range rs {
		if r.Status == "success" {
			n++
		}
	}
	return n
}

func TestReportsRouteListsReports(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "rep")
	f.invoke(t, "rep", map[string]any{"op": "echo"})
	resp, err := http.Get(f.url + "/emulator/v1/reports?function=rep")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []Report
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || len(got) != 1 || got[0].Function != "rep" || got[0].CostUSD <= 0 {
		t.Fatalf("reports %+v %v", got, err)
	}
}
