package wire_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/wire"
)

func TestEveryCodeHasAReasonThatMapsBack(t *testing.T) {
	for c := host.CodeTooMany; c < host.CodeOK; c++ {
		r := wire.Reason(c)
		got, ok := wire.CodeOf(r)
		if !ok || got != c {
			t.Errorf("code %d: reason %q maps back to %d, %v", c, r, got, ok)
		}
	}
	if _, ok := wire.CodeOf("Runtime.ExitError"); ok {
		t.Error("a platform error type maps to a host code")
	}
}

func TestErrorOfKeepsCodeTaskAndHost(t *testing.T) {
	he := &host.Error{Task: "CA", Host: "g@v3", Code: host.CodeDepth, Msg: "too deep"}
	e := wire.ErrorOf(fmt.Errorf("wrapped: %w", he), "other", "h")
	if e.Reason != "DEPTH" || e.Task != "CA" || e.Host != "g@v3" || e.Message != "too deep" {
		t.Fatalf("ErrorOf = %+v", e)
	}
	if back := e.HostError(); !errors.Is(back, host.ErrDepth) || back.Error() != he.Error() {
		t.Fatalf("HostError = %v", back)
	}
	plain := wire.ErrorOf(errors.New("boom"), "t", "h")
	if plain.Reason != "INTERNAL" || plain.Task != "t" || plain.Host != "h" {
		t.Fatalf("ErrorOf(plain) = %+v", plain)
	}
}

func TestRequestCarriesTheCall(t *testing.T) {
	c := host.Call{Task: "I", Input: []byte{0, 1, 2}, Caller: "CA", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", ParentID: 9, Depth: 2,
		SpanParent: 0x00f067aa0ba902b7, TraceState: "vendor=opaque"}
	d := time.UnixMilli(1_800_000_000_000)
	body, err := json.Marshal(wire.NewRequest(c, d))
	if err != nil {
		t.Fatal(err)
	}
	r, err := wire.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Traceparent != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" || r.Tracestate != "vendor=opaque" {
		t.Fatalf("envelope trace context %q %q", r.Traceparent, r.Tracestate)
	}
	got := r.Call()
	c.Remote = true
	if fmt.Sprint(got) != fmt.Sprint(c) {
		t.Fatalf("Call() = %+v, want %+v", got, c)
	}
	if dl, ok := r.Deadline(); !ok || !dl.Equal(d) {
		t.Fatalf("Deadline() = %v, %v", dl, ok)
	}
}

func TestDecodeRequestRefusesWhatIsNoInvocation(t *testing.T) {
	for _, body := range []string{``, `[]`, `{"task":"x"}`, `{"fusionize":2,"task":"x"}`, `{"fusionize":1}`, `{"fusionize":1,"task":"x","depth":-1}`} {
		if _, err := wire.DecodeRequest([]byte(body)); err == nil {
			t.Errorf("DecodeRequest(%q) accepted", body)
		}
	}
}

// FuzzDecodeRequest: outside input never panics, and what is accepted
// survives a round trip.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"fusionize":1,"task":"echo","input":"aGk=","depth":3}`), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add([]byte(`{"fusionize":1,"ping":true}`), "")
	f.Fuzz(func(t *testing.T, body []byte, tp string) {
		if tp, ok := host.ParseTraceparent(tp); ok {
			if back := host.FormatTraceparent(tp.TraceID, tp.Parent, tp.Sampled); back == "" {
				t.Fatalf("accepted traceparent %+v does not format back", tp)
			}
		}
		r, err := wire.DecodeRequest(body)
		if err != nil {
			return
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := wire.DecodeRequest(again)
		if err != nil || fmt.Sprint(r2) != fmt.Sprint(r) {
			t.Fatalf("round trip: %+v → %+v, %v", r, r2, err)
		}
	})
}
