package client

import (
	"reflect"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
	"google.golang.org/protobuf/proto"
)

func TestSpanRoundTrip(t *testing.T) {
	for _, s := range []span.Span{
		{},
		{TraceID: "t", ID: 7, ParentID: 3, Caller: "A", Task: "B", Async: true, Remote: true, Group: "g", Host: "h",
			SetupVersion: 4, Start: time.Unix(1700000000, 123456789).UTC(), Duration: 3 * time.Millisecond,
			Wait: time.Millisecond, Billed: 4 * time.Millisecond, MemoryMB: 512, Cold: true, InputBytes: 10, OutputBytes: 20, Err: "boom", Count: 5},
	} {
		if got := SpanFromProto(SpanToProto(&s)); !reflect.DeepEqual(got, s) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
		}
	}
	if SpanToProto(nil) != nil || !reflect.DeepEqual(SpanFromProto(nil), span.Span{}) {
		t.Error("nil spans do not convert to nil/zero")
	}
}

func TestSetupRoundTrip(t *testing.T) {
	s := &setup.Setup{Version: 3, Groups: []setup.Group{
		{Name: "A+B", Tasks: []string{"A", "B"}, MemoryMB: 256, Place: setup.Place{Provider: "aws", Region: "eu-central-1", Arch: "arm64"}, Fusion: setup.FusionModule},
		{Name: "C", Tasks: []string{"C"}, MemoryMB: 128, Place: setup.Place{Provider: "local"}},
	}}
	if got := SetupFromProto(SetupToProto(s)); !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	if SetupToProto(nil) != nil || SetupFromProto(nil) != nil {
		t.Error("nil setups do not convert to nil")
	}
}

func TestIterationAndHostRoundTrip(t *testing.T) {
	it := api.Iteration{Index: 2, Setup: setup.Separate(2, []string{"A"}, setup.Place{Provider: "local"}, 128),
		P50Ms: 1.5, P95Ms: 9, CostPerMillionUSD: 0.42, Decision: "kept", Note: "n", DeployedAt: time.Unix(1700000000, 0).UTC()}
	if got := IterationFromProto(IterationToProto(&it)); !reflect.DeepEqual(got, it) {
		t.Errorf("iteration round trip:\n got %+v\nwant %+v", got, it)
	}
	it.Predicted = &api.Prediction{P50Ms: 1.2, P95Ms: 7, CostPerMillionUSD: 0.4, Confidence: 0.2}
	if got := IterationFromProto(IterationToProto(&it)); !reflect.DeepEqual(got, it) {
		t.Errorf("iteration with a prediction, round trip:\n got %+v\nwant %+v", got, it)
	}
	h := api.HostInfo{Name: "h", Group: "g", Address: "a:1", SetupVersion: 2, Tasks: []string{"A"}, MetricsAddress: "a:2"}
	if got := HostFromProto(HostToProto(h)); !reflect.DeepEqual(got, h) {
		t.Errorf("host round trip: %+v", got)
	}
}

// TestEndpointsRoundTripOverTheWire sends a routing table of every kind
// through the wire encoding of GetSetupResponse and back.
func TestEndpointsRoundTripOverTheWire(t *testing.T) {
	eps := api.Endpoints{
		"a": api.GRPC("127.0.0.1:9001"),
		"b": {Kind: api.KindLambda, FunctionName: "iot-b", Qualifier: "7", Region: "us-east-1", APIEndpoint: "http://127.0.0.1:9002"},
		"c": {Kind: api.KindHTTPS, URL: "https://us-east4-p.cloudfunctions.net/iot-c"},
	}
	b, err := proto.Marshal(&fusionizev1.GetSetupResponse{Endpoints: EndpointsToProto(eps)})
	if err != nil {
		t.Fatal(err)
	}
	var resp fusionizev1.GetSetupResponse
	if err := proto.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	if got := EndpointsFromProto(resp.GetEndpoints()); !reflect.DeepEqual(got, eps) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, eps)
	}
	if EndpointsToProto(nil) != nil || EndpointsFromProto(nil) == nil {
		t.Error("an empty table converts to nil on the wire and to an empty map back")
	}
}
