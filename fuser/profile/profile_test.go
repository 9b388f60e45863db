package profile_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/profile"
)

var (
	awsEast = setup.Place{Provider: "aws", Region: "us-east-1"}
	awsWest = setup.Place{Provider: "aws", Region: "us-west-2"}
	gcpE4   = setup.Place{Provider: "gcp", Region: "us-east4"}
	gcpC1   = setup.Place{Provider: "gcp", Region: "us-central1"}
	local   = setup.Place{Provider: "local"}
)

func TestDefaultRoundTrips(t *testing.T) {
	p := profile.Default()
	for _, tc := range []struct {
		a, b setup.Place
		want time.Duration
	}{
		{awsEast, gcpE4, time.Millisecond},
		{gcpE4, awsEast, time.Millisecond},
		{awsEast, gcpC1, 27 * time.Millisecond},
		{awsWest, awsEast, 77 * time.Millisecond},
		{awsEast, awsEast, 500 * time.Microsecond},
		{setup.Place{Provider: "aws"}, awsEast, 500 * time.Microsecond}, // empty region = provider default
		{local, gcpC1, 50 * time.Millisecond},
	} {
		if got := p.RTT(tc.a, tc.b); got != tc.want {
			t.Errorf("RTT(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCPUShare(t *testing.T) {
	p := profile.Default()
	for _, tc := range []struct {
		place      setup.Place
		mem        int
		share, spd float64
	}{
		{awsEast, 1769, 1, 1},
		{awsEast, 3538, 2, 1},
		{awsEast, 128, 128.0 / 1769, 128.0 / 1769},
		{gcpE4, 1024, 0.583, 0.583},
		{gcpE4, 4096, 2, 1},
		{local, 128, 1, 1},
	} {
		if s := p.CPUShare(tc.place, tc.mem); math.Abs(s-tc.share) > 1e-9 {
			t.Errorf("CPUShare(%v, %d) = %v, want %v", tc.place, tc.mem, s, tc.share)
		}
		if s := p.Speed(tc.place, tc.mem); math.Abs(s-tc.spd) > 1e-9 {
			t.Errorf("Speed(%v, %d) = %v, want %v", tc.place, tc.mem, s, tc.spd)
		}
	}
	if p.InvokeOverhead(awsEast) != 12*time.Millisecond || p.ColdStart(gcpC1) != 400*time.Millisecond || p.InvokeOverhead(local) != 0 {
		t.Error("default overheads changed")
	}
}

func TestParseOverlaysDefaults(t *testing.T) {
	p, err := profile.Parse([]byte(`{
		"platforms": [{"provider": "aws", "region": "us-east-1", "invokeOverheadMs": 20, "coldStartMs": 300, "fullVCPUMemoryMB": 1769}],
		"links": [{"a": "gcp/us-east4", "b": "aws/us-east-1", "rttMs": 2}],
		"sameRegionRttMs": 0
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.InvokeOverhead(awsEast); got != 20*time.Millisecond {
		t.Errorf("overridden overhead = %v", got)
	}
	if got := p.RTT(awsEast, gcpE4); got != 2*time.Millisecond {
		t.Errorf("overridden link = %v", got)
	}
	if got := p.RTT(awsEast, awsEast); got != 0 {
		t.Errorf("overridden same-region rtt = %v", got)
	}
	if got := p.RTT(awsEast, gcpC1); got != 27*time.Millisecond {
		t.Errorf("default link lost: %v", got)
	}
	for _, bad := range []string{
		`{"platforms": [{"provider": ""}]}`,
		`{"links": [{"a": "x", "b": "y", "rttMs": -1}]}`,
		`{"bandwidthMBps": 0}`,
		`{"nope": 1}`,
	} {
		if _, err := profile.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) accepted", bad)
		}
	}
}

func TestValidateRejectsDuplicateLinks(t *testing.T) {
	p := profile.Default()
	p.Links = append(p.Links, profile.Link{A: "gcp/us-east4", B: "aws/us-east-1", RTTMs: 3})
	if err := p.Validate(); err == nil {
		t.Fatal("duplicate link accepted")
	}
}

func TestStringSaysEmulated(t *testing.T) {
	s := profile.Default().String()
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if !strings.Contains(line, "emulated") {
			t.Errorf("line without 'emulated': %q", line)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"links": [{"a": "aws/us-east-1", "b": "gcp/us-east4", "rttMs": 1.5}]}`))
	f.Add([]byte(`{"platforms": [{"provider": "gcp", "region": "x", "vcpu": [{"memoryMB": 128, "vcpu": 0.1}]}], "bandwidthMBps": 10}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := profile.Parse(data)
		if err != nil {
			return
		}
		places := []setup.Place{awsEast, gcpE4, local}
		for _, pl := range p.Platforms {
			places = append(places, setup.Place{Provider: pl.Provider, Region: pl.Region})
		}
		for _, a := range places {
			if s := p.Speed(a, 256); !(s > 0) || s > 1 {
				t.Fatalf("Speed(%v) = %v", a, s)
			}
			for _, b := range places {
				if r := p.RTT(a, b); r < 0 || r != p.RTT(b, a) {
					t.Fatalf("RTT(%v, %v) = %v, reverse %v", a, b, r, p.RTT(b, a))
				}
			}
		}
		_ = p.String()
	})
}

func ExampleProfile_RTT() {
	p := profile.Default()
	fmt.Println(p.RTT(setup.Place{Provider: "aws", Region: "us-east-1"}, setup.Place{Provider: "gcp", Region: "us-central1"}))
	// Output: 27ms
}
