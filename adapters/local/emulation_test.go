package local_test

import (
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters/local"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/profile"
)

// TestEmulatedFiguresOfTheDefaultProfile pins what a local host standing in
// for AWS Lambda us-east-1 at 128 MB does today (all figures emulated):
// a 250 ms cold start, 128/1769 of a vCPU, and per callee place the
// callee's invoke overhead plus the round trip.
func TestEmulatedFiguresOfTheDefaultProfile(t *testing.T) {
	g := setup.Group{Name: "a", Tasks: []string{"A"}, MemoryMB: 128, Place: setup.Place{Provider: "aws", Region: "us-east-1"}}
	e := local.Emulate(profile.Default(), g)
	if e.ColdStart != 250*time.Millisecond {
		t.Errorf("cold start %s, want 250ms", e.ColdStart)
	}
	if want := 128.0 / 1769; e.CPUShare != want {
		t.Errorf("CPU share %.4f, want %.4f", e.CPUShare, want)
	}
	for place, want := range map[string]time.Duration{
		"aws/us-east-1":   12*time.Millisecond + 500*time.Microsecond, // same region
		"gcp/us-east4":    15*time.Millisecond + 1*time.Millisecond,
		"gcp/us-central1": 15*time.Millisecond + 27*time.Millisecond,
		"aws/us-west-2":   12*time.Millisecond + 77*time.Millisecond,
		"local":           50 * time.Millisecond, // no overhead, the default round trip
	} {
		if got := e.CallDelay[place]; got != want {
			t.Errorf("call delay to %s: %s, want %s", place, got, want)
		}
	}
}
