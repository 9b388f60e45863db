package lambda

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/fusionize/fusionize/api/rtt"
)

// TestInvokeFromAnotherPlaceWaitsTheRoundTripUnbilled: a caller that names
// its place waits the table's round trip to the emulator's region before the
// invocation runs; the report shows it as NetworkRTT and bills only the
// function's own time. A caller that names none waits nothing.
func TestInvokeFromAnotherPlaceWaitsTheRoundTripUnbilled(t *testing.T) {
	const rttMs = 150
	table := rtt.Zero()
	table.Links = []rtt.Link{{A: "gcp/us-east4", B: "aws/us-east-1", RTTMs: rttMs}}
	f := newFixture(t, Options{Region: "us-east-1", RTT: &table})
	f.create(t, "echo")
	f.invoke(t, "echo", map[string]any{"op": "echo"}) // cold start out of the way

	start := time.Now()
	_, err := f.client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"op":"echo"}`)},
		awslambda.WithAPIOptions(smithyhttp.AddHeaderValue(rtt.CallerPlaceHeader, "gcp/us-east4")))
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < rttMs*time.Millisecond {
		t.Errorf("the caller measured %v, less than the %d ms round trip", el, rttMs)
	}
	f.invoke(t, "echo", map[string]any{"op": "echo"}) // no caller place

	reports := f.em.Reports("echo")
	if len(reports) != 3 {
		t.Fatalf("%d reports, want 3", len(reports))
	}
	if r := reports[1]; r.NetworkRTT != rttMs*time.Millisecond || r.BilledDuration != billed(r.Duration, r.InitDuration) {
		t.Errorf("report of the call between places: network %v, duration %v, billed %v", r.NetworkRTT, r.Duration, r.BilledDuration)
	}
	if r := reports[2]; r.NetworkRTT != 0 {
		t.Errorf("a call without a caller place waited %v", r.NetworkRTT)
	}
	if got := f.em.Place(); got != "aws/us-east-1" {
		t.Errorf("Place() = %q", got)
	}
}
