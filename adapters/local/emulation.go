package local

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/profile"
	"github.com/fusionize/fusionize/runtime"
)

// emulationFor returns the emulated figures (runtime.Emulation, as JSON for
// the host's --emulation flag) of d's group under d.Profile, or "" when
// d names no profile. The adapter computes them so that the host process
// links no profile: it only applies figures.
func emulationFor(d adapters.Deployment) (string, error) {
	p, err := lookupProfile(d.Profile)
	if err != nil || p == nil {
		return "", err
	}
	e := Emulate(p, d.Group)
	data, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("emulation: %w", err)
	}
	return string(data), nil
}

// Emulate returns the emulated figures of a group placed at g.Place under
// profile p: its cold start and CPU share, and the delay of a call to each
// place the profile knows (the callee's invoke overhead plus the round trip
// between the places).
func Emulate(p *profile.Profile, g setup.Group) *runtime.Emulation {
	e := &runtime.Emulation{
		ColdStart: p.ColdStart(g.Place),
		CPUShare:  p.CPUShare(g.Place, g.MemoryMB),
		CallDelay: map[string]time.Duration{},
	}
	delay := func(to setup.Place) time.Duration { return p.InvokeOverhead(to) + p.RTT(g.Place, to) }
	for _, pl := range p.Platforms {
		to := setup.Place{Provider: pl.Provider, Region: pl.Region}
		e.CallDelay[to.String()] = delay(to)
		if _, ok := e.CallDelay[pl.Provider]; !ok {
			e.CallDelay[pl.Provider] = delay(setup.Place{Provider: pl.Provider})
		}
	}
	e.DefaultCallDelay = delay(setup.Place{Provider: "?"})
	return e
}

// lookupProfile returns the profile named name: nil for "", the default
// profile for "default", else the JSON file at name.
func lookupProfile(name string) (*profile.Profile, error) {
	switch name {
	case "":
		return nil, nil
	case "default":
		return profile.Default(), nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	p, err := profile.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	return p, nil
}
