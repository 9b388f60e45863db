// Package rtt is the one table of network round trips between places
// ("provider/region", as setup.Place.String writes them): what the
// optimizer's model (fuser/profile) predicts a remote call pays on the
// network and what the emulators (emulators/netem) make a call between
// places wait. Every default figure is EMULATED: a documented assumption
// in the style of public measurements, not a measurement of a cloud.
//
//	t := rtt.Default()
//	fmt.Println(t.Between("aws/us-east-1", "gcp/us-central1")) // 27ms (emulated)
//	fmt.Println(t.Between("aws/us-east-1", "aws/us-east-1"))   // 500µs: same region
//	t, err := rtt.Parse([]byte(`{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":200}]}`))
//
// A host tells an emulator where it is with the CallerPlaceHeader on each
// invoke; a call without it (a client outside every place) pays nothing.
package rtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// CallerPlaceHeader is the HTTP header in which a host's transport names
// the place it runs in ("aws/us-east-1") on each invoke, so that an
// emulated platform can charge the round trip between the two places.
const CallerPlaceHeader = "X-Fusionize-Caller-Place"

// Default figures (emulated).
const (
	// SameRegionMs is the round trip between two hosts of one place.
	SameRegionMs = 0.5
	// DefaultMs is the round trip between places with no link.
	DefaultMs = 50.0
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("rtt: invalid")

// Link is the round trip between two places, in either direction.
type Link struct {
	A     string  `json:"a"`
	B     string  `json:"b"`
	RTTMs float64 `json:"rttMs"`
}

// DefaultLinks returns the emulated round trips between the default
// places: AWS us-east-1 and us-west-2, GCP us-east4 and us-central1.
func DefaultLinks() []Link {
	return []Link{
		{"aws/us-east-1", "gcp/us-east4", 1},
		{"aws/us-east-1", "gcp/us-central1", 27},
		{"aws/us-east-1", "aws/us-west-2", 77},
		{"gcp/us-east4", "gcp/us-central1", 26},
	}
}

// Table is a set of links and the figures of pairs without one.
type Table struct {
	Links []Link `json:"links"`
	// SameRegionMs is the round trip within one place.
	SameRegionMs float64 `json:"sameRegionRttMs"`
	// DefaultMs is the round trip between places with no link.
	DefaultMs float64 `json:"defaultRttMs"`
}

// Default returns the emulated default table.
func Default() Table {
	return Table{Links: DefaultLinks(), SameRegionMs: SameRegionMs, DefaultMs: DefaultMs}
}

// Zero returns a table in which every round trip is zero.
func Zero() Table { return Table{} }

// SamePair tells whether two links join the same two places.
func SamePair(a, b Link) bool {
	return (a.A == b.A && a.B == b.B) || (a.A == b.B && a.B == b.A)
}

// Between returns the emulated round trip between places a and b
// ("provider/region"): SameRegionMs for one place, the link's figure, or
// DefaultMs.
func (t Table) Between(a, b string) time.Duration {
	if a == b {
		return ms(t.SameRegionMs)
	}
	for _, l := range t.Links {
		if SamePair(l, Link{A: a, B: b}) {
			return ms(l.RTTMs)
		}
	}
	return ms(t.DefaultMs)
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// maxMs bounds every figure: no round trip takes an hour.
const maxMs = 3_600_000

// BadMs tells whether v is not a usable figure in milliseconds: negative,
// NaN or an hour and more.
func BadMs(v float64) bool { return v < 0 || v > maxMs || math.IsNaN(v) }

// Validate checks that the figures are finite, non-negative and below an
// hour, and that each link names two places and is listed once.
func (t Table) Validate() error {
	for i, l := range t.Links {
		if l.A == "" || l.B == "" || BadMs(l.RTTMs) {
			return fmt.Errorf("%w: link %q-%q %v ms", ErrInvalid, l.A, l.B, l.RTTMs)
		}
		if slices.ContainsFunc(t.Links[:i], func(m Link) bool { return SamePair(l, m) }) {
			return fmt.Errorf("%w: link %s-%s listed twice", ErrInvalid, l.A, l.B)
		}
	}
	if BadMs(t.SameRegionMs) || BadMs(t.DefaultMs) {
		return fmt.Errorf("%w: same-region %v ms, default %v ms", ErrInvalid, t.SameRegionMs, t.DefaultMs)
	}
	return nil
}

// Overlay replaces the links of t that join the same places as links and
// appends the others.
func (t *Table) Overlay(links []Link) {
	for _, l := range links {
		if i := slices.IndexFunc(t.Links, func(q Link) bool { return SamePair(q, l) }); i >= 0 {
			t.Links[i] = l
		} else {
			t.Links = append(t.Links, l)
		}
	}
}

// Changes is the JSON shape of a table given over another (Parse's, and
// the round-trip part of fuser/profile's): links replace those between the
// same two places and add the others; a nil figure keeps the one there.
type Changes struct {
	Links        []Link   `json:"links"`
	SameRegionMs *float64 `json:"sameRegionRttMs"`
	DefaultMs    *float64 `json:"defaultRttMs"`
}

// Apply makes the changes c to t and validates the result; a link given
// twice in c is an error, not a silent replacement.
func (t *Table) Apply(c Changes) error {
	if err := (Table{Links: c.Links}).Validate(); err != nil {
		return err
	}
	t.Overlay(c.Links)
	if c.SameRegionMs != nil {
		t.SameRegionMs = *c.SameRegionMs
	}
	if c.DefaultMs != nil {
		t.DefaultMs = *c.DefaultMs
	}
	return t.Validate()
}

// Parse reads a table from JSON (Changes) over Default: a link replaces
// the default between the same two places (in either order), others are
// added, and sameRegionRttMs and defaultRttMs given replace the defaults.
// Unknown fields are rejected.
func Parse(data []byte) (Table, error) {
	var c Changes
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Table{}, fmt.Errorf("rtt: parse: %w", err)
	}
	t := Default()
	if err := t.Apply(c); err != nil {
		return Table{}, err
	}
	return t, nil
}

// String lists every figure, each labelled emulated.
func (t Table) String() string {
	var b strings.Builder
	for _, l := range t.Links {
		fmt.Fprintf(&b, "rtt %s <-> %s %.1f ms (emulated)\n", l.A, l.B, l.RTTMs)
	}
	fmt.Fprintf(&b, "rtt same region %.1f ms (emulated), other pairs %.1f ms (emulated)\n", t.SameRegionMs, t.DefaultMs)
	return b.String()
}
