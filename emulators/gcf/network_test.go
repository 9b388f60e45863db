package gcf

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/rtt"
)

// TestRequestFromAnotherPlaceWaitsTheRoundTripUnbilled: a caller that names
// its place waits the default table's round trip to the function's location
// before the request is routed; the report and the X-Emulator headers show
// it as emulated and the billed time is the instance's alone. A caller that
// names none waits nothing.
func TestRequestFromAnotherPlaceWaitsTheRoundTripUnbilled(t *testing.T) {
	e, fn := sharedFunction(t, "echo", "Echo", nil)
	const caller = "aws/eu-west-1" // no link to the function's location: the default figure
	want := rtt.Default().Between(caller, "gcp/us-central1")
	if want != rtt.DefaultMs*time.Millisecond {
		t.Fatalf("the default table links %s: pick another caller", caller)
	}
	post := func(place string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, fn.ServiceConfig.Uri, strings.NewReader("ping"))
		if err != nil {
			t.Fatal(err)
		}
		if place != "" {
			req.Header.Set(rtt.CallerPlaceHeader, place)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %s", resp.Status)
		}
		return resp
	}
	post("") // a cold start out of the way
	start := time.Now()
	resp := post(caller)
	if el := time.Since(start); el < want {
		t.Errorf("the caller measured %v, less than the %v round trip", el, want)
	}
	if h := resp.Header.Get("X-Emulator-Network-Rtt-Ms"); h != "50.000" {
		t.Errorf("X-Emulator-Network-Rtt-Ms %q", h)
	}
	if h := post("").Header.Get("X-Emulator-Network-Rtt-Ms"); h != "" {
		t.Errorf("a request without a caller place waited %s ms", h)
	}
	var mine []Request
	for _, r := range e.Requests(fn.Name) {
		if r.NetworkRTT > 0 {
			mine = append(mine, r)
		}
	}
	if len(mine) != 1 || mine[0].NetworkRTT != want || mine[0].Billed != billed(mine[0].Init+mine[0].Duration) {
		t.Fatalf("requests that waited a round trip: %+v", mine)
	}
}
