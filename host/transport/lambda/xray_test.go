package lambda

import (
	"testing"

	"github.com/fusionize/fusionize/host"
)

func TestXRayHeaderCarriesTheCallsTrace(t *testing.T) {
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tc := range []struct {
		c    host.Call
		want string
	}{
		{host.Call{TraceID: trace}, "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Sampled=1"},
		{host.Call{TraceID: trace, ParentID: 0x00f067aa0ba902b7, Unsampled: true}, "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=0"},
		{host.Call{TraceID: "not a trace"}, ""},
	} {
		if got := xrayHeader(&tc.c); got != tc.want {
			t.Errorf("xrayHeader(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
}
