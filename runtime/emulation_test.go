package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/runtime"
)

// twoPlaces: caller in group a on AWS, echo in group b on GCP.
func twoPlaces() *setup.Setup {
	return &setup.Setup{Version: 1, Groups: []setup.Group{
		{Name: "a", Tasks: []string{"caller"}, MemoryMB: 128, Place: setup.Place{Provider: "aws", Region: "us-east-1"}},
		{Name: "b", Tasks: []string{"echo"}, MemoryMB: 128, Place: setup.Place{Provider: "gcp", Region: "us-east4"}},
	}}
}

// newHost builds the host of group with the test modules of package host.
func newHost(t *testing.T, cfg runtime.GroupConfig) *host.Host {
	t.Helper()
	cfg.Modules = runtime.Dir("../host/testdata")
	h, err := runtime.NewHost(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return h
}

func TestNewHostLoadsTheGroupAndRoutesByItsEndpoints(t *testing.T) {
	su := twoPlaces()
	b := newHost(t, runtime.GroupConfig{App: "t", Setup: su, Group: "b"})
	if got := b.Tasks(); len(got) != 1 || got[0] != "echo" || b.Name() != "b@v1" {
		t.Fatalf("host %s with tasks %v", b.Name(), got)
	}
	var sentTo []string
	tr := host.TransportFunc(func(ctx context.Context, to host.Target, c host.Call) ([]byte, error) {
		sentTo = append(sentTo, to.Endpoint.Address)
		return b.Serve(ctx, c)
	})
	a := newHost(t, runtime.GroupConfig{App: "t", Setup: su, Group: "a", Transport: tr,
		Endpoints: host.StaticEndpoints{"b": {Kind: "test", Address: "where-b-was-deployed"}}})
	if out, err := a.Invoke(context.Background(), "caller", []byte("hi")); err != nil || string(out) != "hi" {
		t.Fatalf("caller = %q, %v", out, err)
	}
	if len(sentTo) != 1 || sentTo[0] != "where-b-was-deployed" {
		t.Fatalf("calls went to %v, want the recorded endpoint of b", sentTo)
	}
}

// TestEmulatedRemoteCallPaysInvokeOverheadAndRoundTrip pins today's
// emulation of a call between places: the caller waits at least the
// emulated delay to the callee's place on top of what the callee took.
func TestEmulatedRemoteCallPaysInvokeOverheadAndRoundTrip(t *testing.T) {
	const delay = 80 * time.Millisecond // emulated: GCP invoke overhead + round trip from AWS
	su := twoPlaces()
	rec := span.NewBuffer(16)
	b := newHost(t, runtime.GroupConfig{App: "t", Setup: su, Group: "b", Host: host.Config{Recorder: rec}})
	tr := host.TransportFunc(func(ctx context.Context, _ host.Target, c host.Call) ([]byte, error) {
		c.Remote = true
		return b.Serve(ctx, c)
	})
	a := newHost(t, runtime.GroupConfig{App: "t", Setup: su, Group: "a", Transport: tr,
		Endpoints: host.StaticEndpoints{"b": {Kind: "test", Address: "b"}},
		Emulation: &runtime.Emulation{CallDelay: map[string]time.Duration{"gcp/us-east4": delay}, DefaultCallDelay: time.Hour},
		Host:      host.Config{Recorder: rec}})
	if _, err := a.Invoke(context.Background(), "caller", []byte("x")); err != nil {
		t.Fatal(err)
	}
	var caller, callee *span.Span
	for _, s := range rec.Drain() {
		switch s.Task {
		case "caller":
			caller = &s
		case "echo":
			callee = &s
		}
	}
	if caller == nil || callee == nil {
		t.Fatal("missing spans")
	}
	if overhead := caller.Wait - callee.Duration; overhead < delay {
		t.Fatalf("caller waited %s for a callee that took %s: %s of remote overhead, want at least the emulated %s", caller.Wait, callee.Duration, overhead, delay)
	}
	if !callee.Remote {
		t.Error("callee span not remote")
	}
}
