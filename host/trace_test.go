package host_test

import (
	"testing"

	"github.com/fusionize/fusionize/host"
)

const (
	w3cTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	w3cTP    = "00-" + w3cTrace + "-00f067aa0ba902b7-01"
)

func TestTraceparentParsesTheSpecificationsExample(t *testing.T) {
	tp, ok := host.ParseTraceparent(w3cTP)
	if !ok || tp.TraceID != w3cTrace || tp.Parent != 0x00f067aa0ba902b7 || !tp.Sampled {
		t.Fatalf("ParseTraceparent(%q) = %+v, %v", w3cTP, tp, ok)
	}
	if got := host.FormatTraceparent(tp.TraceID, tp.Parent, tp.Sampled); got != w3cTP {
		t.Errorf("FormatTraceparent = %q, want %q", got, w3cTP)
	}
	unsampled := "00-" + w3cTrace + "-00f067aa0ba902b7-00"
	if tp, ok := host.ParseTraceparent(unsampled); !ok || tp.Sampled {
		t.Errorf("ParseTraceparent(%q) = %+v, %v; want not sampled", unsampled, tp, ok)
	}
	if got := host.FormatTraceparent(w3cTrace, 0x00f067aa0ba902b7, false); got != unsampled {
		t.Errorf("FormatTraceparent unsampled = %q", got)
	}
	// A future version may append fields; its first four are read.
	if tp, ok := host.ParseTraceparent("cc-" + w3cTrace + "-00f067aa0ba902b7-01-what-the-future-holds"); !ok || tp.TraceID != w3cTrace {
		t.Errorf("a future version's longer header: %+v, %v", tp, ok)
	}
}

func TestMalformedTraceparentIsIgnored(t *testing.T) {
	for name, h := range map[string]string{
		"empty":              "",
		"version ff":         "ff-" + w3cTrace + "-00f067aa0ba902b7-01",
		"all-zero trace id":  "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"all-zero parent id": "00-" + w3cTrace + "-0000000000000000-01",
		"uppercase":          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"version 00 longer":  w3cTP + "-x",
		"short trace id":     "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
		"bad separator":      "00_" + w3cTrace + "-00f067aa0ba902b7-01",
		"non-hex flags":      "00-" + w3cTrace + "-00f067aa0ba902b7-0g",
		"future no dash":     "01-" + w3cTrace + "-00f067aa0ba902b7-01x",
	} {
		if tp, ok := host.ParseTraceparent(h); ok {
			t.Errorf("%s: ParseTraceparent(%q) = %+v, accepted", name, h, tp)
		}
		c := host.Call{TraceID: "keep"}
		c.SetTraceparent(h, "k=v")
		if c.TraceID != "keep" || c.SpanParent != 0 || c.TraceState != "" {
			t.Errorf("%s: SetTraceparent changed the call: %+v", name, c)
		}
	}
	if got := host.FormatTraceparent("00000000000000000000000000000000", 1, true); got != "" {
		t.Errorf("FormatTraceparent of an all-zero trace id = %q", got)
	}
	if got := host.FormatTraceparent(w3cTrace, 0, true); got != "" {
		t.Errorf("FormatTraceparent of a zero parent = %q", got)
	}
}

func TestCallSendsItsSpanParentElseItsCaller(t *testing.T) {
	c := host.Call{TraceID: w3cTrace, ParentID: 7}
	if got := c.Traceparent(); got != "00-"+w3cTrace+"-0000000000000007-01" {
		t.Errorf("parent from ParentID: %q", got)
	}
	c.SpanParent = 9
	if got := c.Traceparent(); got != "00-"+w3cTrace+"-0000000000000009-01" {
		t.Errorf("parent from SpanParent: %q", got)
	}
}

func TestHostStartsAW3CTraceForCallsWithoutOne(t *testing.T) {
	h := newHost(t, host.Config{}, map[string]string{"echo": wat("echo")})
	for _, id := range []string{"", "not-a-trace", "00000000000000000000000000000000"} {
		c := host.Call{TraceID: id}
		h.AssignIDs(&c)
		if !host.ValidTraceID(c.TraceID) || c.SpanID == 0 {
			t.Errorf("trace id %q: assigned %q span %x", id, c.TraceID, c.SpanID)
		}
	}
	c := host.Call{TraceID: w3cTrace, SpanID: 5}
	h.AssignIDs(&c)
	if c.TraceID != w3cTrace || c.SpanID != 5 {
		t.Errorf("valid ids replaced: %+v", c)
	}
}

func FuzzParseTraceparent(f *testing.F) {
	f.Add(w3cTP)
	f.Add("ff-" + w3cTrace + "-00f067aa0ba902b7-01")
	f.Fuzz(func(t *testing.T, h string) {
		tp, ok := host.ParseTraceparent(h)
		if !ok {
			return
		}
		back := host.FormatTraceparent(tp.TraceID, tp.Parent, tp.Sampled)
		again, ok := host.ParseTraceparent(back)
		if !ok || again != tp {
			t.Fatalf("%q parsed to %+v, formatted to %q, parsed to %+v", h, tp, back, again)
		}
	})
}
