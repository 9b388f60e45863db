package client

import (
	"reflect"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
)

func TestSpanRoundTrip(t *testing.T) {
	for _, s := range []span.Span{
		{},
		{TraceID: "t", ID: 7, ParentID: 3, Caller: "A", Task: "B", Async: true, Remote: true, Group: "g", Host: "h",
			SetupVersion: 4, Start: time.Unix(1700000000, 123456789).UTC(), Duration: 3 * time.Millisecond,
			Wait: time.Millisecond, Billed: 4 * time.Millisecond, MemoryMB: 512, Cold: true, InputBytes: 10, OutputBytes: 20, Err: "boom"},
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
		{Name: "A+B", Tasks: []string{"A", "B"}, MemoryMB: 256, Place: setup.Place{Provider: "aws", Region: "eu-central-1", Arch: "arm64"}},
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
	h := api.HostInfo{Name: "h", Group: "g", Address: "a:1", SetupVersion: 2, Tasks: []string{"A"}}
	if got := HostFromProto(HostToProto(h)); !reflect.DeepEqual(got, h) {
		t.Errorf("host round trip: %+v", got)
	}
}
