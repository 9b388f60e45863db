package node

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/profile"
	"github.com/fusionize/fusionize/host"
)

// emulation makes a local host behave like the platform of its group's
// place, from an emulated profile (fuser/profile): remote calls pay the
// callee platform's invoke overhead plus the round trip between the two
// places, new instances pay the cold-start delay, and the CPU share follows
// the memory size. Every figure is emulated, none is measured.
type emulation struct {
	p     *profile.Profile
	place setup.Place
}

// LookupProfile returns the emulation for place under the profile named
// name: "" for none, "default" for profile.Default(), or a JSON file path.
func LookupProfile(name string, place setup.Place) (*emulation, error) {
	var p *profile.Profile
	switch name {
	case "":
		return nil, nil
	case "default":
		p = profile.Default()
	default:
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("node: profile: %w", err)
		}
		if p, err = profile.Parse(data); err != nil {
			return nil, fmt.Errorf("node: profile %s: %w", name, err)
		}
	}
	return &emulation{p: p, place: place}, nil
}

// configure sets the host's cold-start delay and CPU share.
func (e *emulation) configure(hc *host.Config, memoryMB int) {
	hc.ColdStartDelay = e.p.ColdStart(e.place)
	hc.CPUShare = e.p.CPUShare(e.place, memoryMB)
}

// wrap delays each remote call by the callee's invoke overhead and the
// round trip between the places.
func (e *emulation) wrap(t host.Transport, su *setup.Setup) host.Transport {
	return host.TransportFunc(func(ctx context.Context, group string, c host.Call) ([]byte, error) {
		if g, ok := su.Group(group); ok {
			d := e.p.InvokeOverhead(g.Place) + e.p.RTT(e.place, g.Place)
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return nil, &host.Error{Task: c.Task, Code: host.CodeDeadline, Msg: "deadline exceeded during emulated invoke overhead"}
			}
		}
		return t.Invoke(ctx, group, c)
	})
}
