// Package profile describes how serverless platforms behave, as the prior the
// optimizer's model predicts a setup from before it has measured one: invoke
// overhead of a remote call, cold-start delay, the CPU share a memory size
// buys, and the round-trip time between places. Nothing applies it to a host:
// platforms are deployed to (emulators/ stands in for the clouds here), and
// the model corrects the figures it can observe (invoke overhead, cold-start
// rate) from their spans.
//
// Every default figure is an assumption in the style of public
// measurements, not a measurement of a real cloud. The round trips between
// places are api/rtt's table, the one the emulators (emulators/netem) make
// calls between places wait, so the model predicts what they measure. The
// model corrects the figures it can observe (invoke overhead, cold-start
// rate) from spans.
//
//	p := profile.Default()
//	aws := setup.Place{Provider: "aws", Region: "us-east-1"}
//	gcp := setup.Place{Provider: "gcp", Region: "us-central1"}
//	fmt.Println(p.RTT(aws, gcp))          // 27ms (emulated)
//	fmt.Println(p.Speed(aws, 512))        // ~0.29 of one vCPU
//
// Override any figure from JSON with Parse: platforms and links given replace
// the defaults with the same key; others stay.
package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/cost"
)

// Default figures (all emulated).
const (
	AWSInvokeOverheadMs = 12.0
	AWSColdStartMs      = 250.0
	GCPInvokeOverheadMs = 15.0
	GCPColdStartMs      = 400.0
	// LambdaFullVCPUMemoryMB is the memory size at which a Lambda function
	// gets one full vCPU; below it the share is proportional to memory.
	LambdaFullVCPUMemoryMB = 1769
	SameRegionRTTMs        = rtt.SameRegionMs
	DefaultRTTMs           = rtt.DefaultMs
	DefaultBandwidthMBps   = 100.0
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("profile: invalid")

// Platform is how one provider/region behaves.
type Platform struct {
	Provider string `json:"provider"`
	Region   string `json:"region,omitempty"`
	// InvokeOverheadMs is the time a remote invocation adds on top of the
	// network round trip: API front end, routing, queueing.
	InvokeOverheadMs float64 `json:"invokeOverheadMs"`
	// ColdStartMs is the delay before a new instance runs its first request.
	ColdStartMs float64 `json:"coldStartMs"`
	// FullVCPUMemoryMB, when positive, makes the CPU share proportional to
	// memory: memory/FullVCPUMemoryMB vCPUs (AWS Lambda).
	FullVCPUMemoryMB int `json:"fullVCPUMemoryMB,omitempty"`
	// VCPU, when set, gives the vCPUs of each memory size (Google Cloud).
	// With neither, a group gets one full vCPU (local hosts).
	VCPU []cost.VCPUStep `json:"vcpu,omitempty"`
}

// Key returns "provider/region" or the provider.
func (p Platform) Key() string {
	return setup.Place{Provider: p.Provider, Region: p.Region}.String()
}

// Link is the round-trip time between two places ("provider/region").
type Link = rtt.Link

// Profile is the set of platform figures and the round-trip matrix.
type Profile struct {
	Platforms []Platform `json:"platforms"`
	Links     []Link     `json:"links"`
	// SameRegionRTTMs is the round trip between two hosts of one place.
	SameRegionRTTMs float64 `json:"sameRegionRttMs"`
	// DefaultRTTMs is the round trip between places with no link.
	DefaultRTTMs float64 `json:"defaultRttMs"`
	// BandwidthMBps is the throughput of payload bytes on a remote call.
	BandwidthMBps float64 `json:"bandwidthMBps"`
}

// Default returns the emulated default profile: AWS us-east-1 and us-west-2,
// GCP us-east4 and us-central1, and local hosts.
func Default() *Profile {
	aws := func(region string) Platform {
		return Platform{Provider: cost.ProviderAWS, Region: region, InvokeOverheadMs: AWSInvokeOverheadMs,
			ColdStartMs: AWSColdStartMs, FullVCPUMemoryMB: LambdaFullVCPUMemoryMB}
	}
	gcp := func(region string) Platform {
		return Platform{Provider: cost.ProviderGCP, Region: region, InvokeOverheadMs: GCPInvokeOverheadMs,
			ColdStartMs: GCPColdStartMs, VCPU: cost.DefaultGCPVCPU()}
	}
	return &Profile{
		Platforms: []Platform{
			aws("us-east-1"), aws("us-west-2"), gcp("us-east4"), gcp("us-central1"),
			{Provider: cost.ProviderLocal},
		},
		Links:           rtt.DefaultLinks(),
		SameRegionRTTMs: SameRegionRTTMs,
		DefaultRTTMs:    DefaultRTTMs,
		BandwidthMBps:   DefaultBandwidthMBps,
	}
}

// overlay is the JSON shape Parse reads: nil means "keep the default".
type overlay struct {
	Platforms []Platform `json:"platforms"`
	rtt.Changes
	BandwidthMBps *float64 `json:"bandwidthMBps"`
}

// Parse reads a profile from JSON over Default: a platform replaces the
// default with the same provider/region, a link the default between the same
// two places (in either order); numbers given replace the defaults. Unknown
// fields are rejected.
func Parse(data []byte) (*Profile, error) {
	var o overlay
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("profile: parse: %w", err)
	}
	p := Default()
	for _, pl := range o.Platforms {
		if i := slices.IndexFunc(p.Platforms, func(q Platform) bool { return q.Key() == pl.Key() }); i >= 0 {
			p.Platforms[i] = pl
		} else {
			p.Platforms = append(p.Platforms, pl)
		}
	}
	t := p.table()
	if err := t.Apply(o.Changes); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p.Links, p.SameRegionRTTMs, p.DefaultRTTMs = t.Links, t.SameRegionMs, t.DefaultMs
	if o.BandwidthMBps != nil {
		p.BandwidthMBps = *o.BandwidthMBps
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// table is the round-trip part of p.
func (p *Profile) table() rtt.Table {
	return rtt.Table{Links: p.Links, SameRegionMs: p.SameRegionRTTMs, DefaultMs: p.DefaultRTTMs}
}

// badMs bounds every figure: nothing in a profile should take an hour.
func badMs(v float64) bool { return rtt.BadMs(v) }

// Validate checks that figures are finite, non-negative and below an hour,
// that platforms and links are named and unique, and that vCPU tables grow.
func (p *Profile) Validate() error {
	seen := map[string]bool{}
	for _, pl := range p.Platforms {
		if pl.Provider == "" {
			return fmt.Errorf("%w: platform without provider", ErrInvalid)
		}
		if seen[pl.Key()] {
			return fmt.Errorf("%w: platform %s listed twice", ErrInvalid, pl.Key())
		}
		seen[pl.Key()] = true
		if badMs(pl.InvokeOverheadMs) || badMs(pl.ColdStartMs) {
			return fmt.Errorf("%w: platform %s: overhead %v ms, cold start %v ms", ErrInvalid, pl.Key(), pl.InvokeOverheadMs, pl.ColdStartMs)
		}
		if pl.FullVCPUMemoryMB < 0 {
			return fmt.Errorf("%w: platform %s: fullVCPUMemoryMB %d", ErrInvalid, pl.Key(), pl.FullVCPUMemoryMB)
		}
		prev := 0
		for _, s := range pl.VCPU {
			if s.MemoryMB <= prev || !(s.VCPU > 0) || s.VCPU > 1024 {
				return fmt.Errorf("%w: platform %s: vcpu step %d MB %v vCPU", ErrInvalid, pl.Key(), s.MemoryMB, s.VCPU)
			}
			prev = s.MemoryMB
		}
	}
	if err := p.table().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !(p.BandwidthMBps > 0) || math.IsInf(p.BandwidthMBps, 0) {
		return fmt.Errorf("%w: bandwidth %v MB/s", ErrInvalid, p.BandwidthMBps)
	}
	return nil
}

// Platform returns the figures of place: the platform with the same provider
// and region, else the first of the same provider, else a free local-like
// platform with no overhead and one vCPU.
func (p *Profile) Platform(place setup.Place) Platform {
	first := -1
	for i, pl := range p.Platforms {
		if pl.Provider != place.Provider {
			continue
		}
		if pl.Region == place.Region {
			return pl
		}
		if first < 0 {
			first = i
		}
	}
	if first >= 0 {
		return p.Platforms[first]
	}
	return Platform{Provider: place.Provider, Region: place.Region}
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// InvokeOverhead returns the emulated overhead of one remote invocation on place.
func (p *Profile) InvokeOverhead(place setup.Place) time.Duration {
	return ms(p.Platform(place).InvokeOverheadMs)
}

// ColdStart returns the emulated cold-start delay on place.
func (p *Profile) ColdStart(place setup.Place) time.Duration {
	return ms(p.Platform(place).ColdStartMs)
}

// CPUShare returns the vCPUs a group with memoryMB gets on place.
func (p *Profile) CPUShare(place setup.Place, memoryMB int) float64 {
	pl := p.Platform(place)
	switch {
	case len(pl.VCPU) > 0:
		return cost.VCPU(pl.VCPU, memoryMB)
	case pl.FullVCPUMemoryMB > 0:
		return float64(max(memoryMB, 1)) / float64(pl.FullVCPUMemoryMB)
	}
	return 1
}

// Speed returns how fast a single-threaded task runs on place with memoryMB,
// relative to one full vCPU: the CPU share, capped at 1.
func (p *Profile) Speed(place setup.Place, memoryMB int) float64 {
	return min(p.CPUShare(place, memoryMB), 1)
}

// key resolves an empty region to the provider's first platform's region.
func (p *Profile) key(place setup.Place) string {
	if place.Region == "" {
		pl := p.Platform(place)
		place.Region = pl.Region
	}
	return setup.Place{Provider: place.Provider, Region: place.Region}.String()
}

// RTT returns the emulated network round trip between two places.
func (p *Profile) RTT(a, b setup.Place) time.Duration {
	return p.table().Between(p.key(a), p.key(b))
}

// Transfer returns the time bytes of payload take on a remote call.
func (p *Profile) Transfer(bytes int) time.Duration {
	if bytes <= 0 || p.BandwidthMBps <= 0 {
		return 0
	}
	return time.Duration(float64(bytes) / (p.BandwidthMBps * 1e6) * float64(time.Second))
}

// String lists every figure, each labelled emulated.
func (p *Profile) String() string {
	var b strings.Builder
	b.WriteString("platform profile (all figures emulated, not measured):\n")
	for _, pl := range p.Platforms {
		cpu := "1 vCPU"
		switch {
		case len(pl.VCPU) > 0:
			cpu = "vCPU by memory table"
		case pl.FullVCPUMemoryMB > 0:
			cpu = fmt.Sprintf("1 vCPU at %d MB, proportional below", pl.FullVCPUMemoryMB)
		}
		fmt.Fprintf(&b, "  %-16s invoke overhead %6.1f ms (emulated), cold start %6.1f ms (emulated), CPU %s (emulated)\n",
			pl.Key(), pl.InvokeOverheadMs, pl.ColdStartMs, cpu)
	}
	for _, l := range p.Links {
		fmt.Fprintf(&b, "  rtt %s <-> %s %.1f ms (emulated)\n", l.A, l.B, l.RTTMs)
	}
	fmt.Fprintf(&b, "  rtt same region %.1f ms (emulated), other pairs %.1f ms (emulated), bandwidth %.0f MB/s (emulated)\n",
		p.SameRegionRTTMs, p.DefaultRTTMs, p.BandwidthMBps)
	return b.String()
}
