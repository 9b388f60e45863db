package netem_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/emulators/netem"
)

func request(caller string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	if caller != "" {
		r.Header.Set(rtt.CallerPlaceHeader, caller)
	}
	return r
}

func TestRequestWithoutCallerPlaceWaitsNothing(t *testing.T) {
	n := netem.New(rtt.Table{DefaultMs: 3_000_000}, nil)
	d, err := n.Wait(context.Background(), request(""), "aws/us-east-1")
	if err != nil || d != 0 {
		t.Fatalf("Wait = %v, %v; want 0 for a client", d, err)
	}
}

func TestRequestFromAnotherPlaceWaitsItsRoundTrip(t *testing.T) {
	tb := rtt.Zero()
	tb.Links = []rtt.Link{{A: "gcp/us-east4", B: "aws/us-east-1", RTTMs: 20}}
	n := netem.New(tb, nil)
	start := time.Now()
	d, err := n.Wait(context.Background(), request("gcp/us-east4"), "aws/us-east-1")
	if err != nil || d != 20*time.Millisecond {
		t.Fatalf("Wait = %v, %v; want the link's 20ms", d, err)
	}
	if el := time.Since(start); el < d { // a lower bound: a timer never fires early
		t.Fatalf("waited %v, less than the %v round trip", el, d)
	}
	if d := n.Delay("aws/us-east-1", "aws/us-east-1"); d != 0 {
		t.Fatalf("same place in a zero table: %v", d)
	}
}

func TestWaitEndsWithTheCallersContext(t *testing.T) {
	n := netem.New(rtt.Table{DefaultMs: 3_000_000}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Wait(ctx, request("local"), "aws/us-east-1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a canceled context: %v", err)
	}
}

func TestOfNilIsTheDefaultTable(t *testing.T) {
	if got, want := netem.Of(nil, nil).Delay("aws/us-east-1", "gcp/us-central1"), rtt.Default().Between("aws/us-east-1", "gcp/us-central1"); got != want {
		t.Fatalf("default network: %v, want %v", got, want)
	}
	zero := rtt.Zero()
	if got := netem.Of(&zero, nil).Delay("aws/us-east-1", "gcp/us-central1"); got != 0 {
		t.Fatalf("zero table: %v", got)
	}
}

func TestLoadNamesTheFileOfABadTable(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(`{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":200}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":-5}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := netem.Load(good)
	if err != nil || tb.Between("gcp/us-east4", "aws/us-east-1") != 200*time.Millisecond {
		t.Fatalf("Load good: %v, %v", tb, err)
	}
	if _, err := netem.Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !errors.Is(err, rtt.ErrInvalid) {
		t.Fatalf("Load bad: %v", err)
	}
	if _, err := netem.Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("Load missing: %v", err)
	}
}

func TestSetChangesTheTableOfLaterRequests(t *testing.T) {
	n := netem.New(rtt.Zero(), nil)
	if d := n.Delay("gcp/us-east4", "aws/us-east-1"); d != 0 {
		t.Fatalf("zero table: %v", d)
	}
	n.Set(rtt.Default())
	if d := n.Delay("gcp/us-east4", "aws/us-east-1"); d != time.Millisecond {
		t.Fatalf("after Set(Default()): %v, want the default link's 1ms", d)
	}
	if got := n.Table().Between("aws/us-east-1", "gcp/us-central1"); got != 27*time.Millisecond {
		t.Fatalf("Table() after Set: %v", got)
	}
}
