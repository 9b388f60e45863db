package runtime

import (
	"context"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/host"
)

// Emulation is what a local host does to stand in for a cloud platform:
// EMULATED figures, computed by whoever deploys the group (the local
// adapter, from a platform profile) and applied here without linking the
// profile. Remote calls pay the callee platform's invoke overhead plus the
// round trip between the two places, new instances pay the cold-start
// delay, and the CPU share follows the memory size. None is a measurement.
// (The emulation moves out of hosts, into emulators/, in a later step.)
type Emulation struct {
	// ColdStart is added to every invocation that creates an instance.
	ColdStart time.Duration `json:"coldStart"`
	// CPUShare in (0, 1) stretches each invocation's own time by 1/CPUShare.
	CPUShare float64 `json:"cpuShare"`
	// CallDelay is added to each remote call, by the callee's place
	// ("provider/region" or "provider"): its invoke overhead plus the round
	// trip from this group's place. DefaultCallDelay serves other places.
	CallDelay        map[string]time.Duration `json:"callDelay,omitempty"`
	DefaultCallDelay time.Duration            `json:"defaultCallDelay"`
}

// configure sets the host's cold-start delay and CPU share.
func (e *Emulation) configure(hc *host.Config) {
	hc.ColdStartDelay = e.ColdStart
	hc.CPUShare = e.CPUShare
}

// delay returns the emulated delay of a call to place.
func (e *Emulation) delay(place setup.Place) time.Duration {
	if d, ok := e.CallDelay[place.String()]; ok {
		return d
	}
	if d, ok := e.CallDelay[place.Provider]; ok {
		return d
	}
	return e.DefaultCallDelay
}

// wrap delays each remote call by the emulated delay to the callee's place.
func (e *Emulation) wrap(t host.Transport, su *setup.Setup) host.Transport {
	return host.TransportFunc(func(ctx context.Context, to host.Target, c host.Call) ([]byte, error) {
		if g, ok := su.Group(to.Group); ok {
			timer := time.NewTimer(e.delay(g.Place))
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return nil, &host.Error{Task: c.Task, Code: host.CodeDeadline, Msg: "deadline exceeded during emulated invoke overhead"}
			}
		}
		return t.Invoke(ctx, to, c)
	})
}
