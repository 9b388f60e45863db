package cost

import (
	"fmt"
	"time"

	"github.com/fusionize/fusionize/api/setup"
)

// Bill is what a platform reported for one invocation of a group: Lambda's
// REPORT line (Duration, Billed Duration, Memory Size, Max Memory Used,
// Init Duration), Cloud Run's request log. It is the ground truth of cost:
// Price prices the billed duration the platform reported, not a span's.
type Bill struct {
	Group string      // the fusion group the invoked function holds
	Place setup.Place // where it ran
	Time  time.Time   // when the invocation started
	// Duration is the invocation's run time; Billed is what the platform
	// billed (rounded up, init included where the platform bills it).
	Duration, Billed time.Duration
	// Init is the cold start's init phase (0 on a warm invocation).
	Init        time.Duration
	Cold        bool
	MemoryMB    int // the function's memory size
	MaxMemoryMB int // the execution environment's peak memory so far
	Async       bool
	Failed      bool
	// Trace is the invocation's trace id (32 hex digits) where the
	// platform recorded one: the X-Ray trace of a Lambda Invoke, the trace
	// of a Cloud Run request log entry.
	Trace string
	// Stretch is how much longer than the emulated platform the machine
	// running an emulator took to answer the invocation: the time its
	// environment waited for a physical CPU, which the emulated durations
	// leave out. Emulators only; 0 from a real cloud.
	Stretch time.Duration
	// Wall is Duration on the clock of the machine running an emulator:
	// Duration more the time the environment waited for a physical CPU.
	// Emulators only; 0 from a real cloud.
	Wall time.Duration
}

// Price returns what b costs: the request fee, billed duration × the price
// of its memory on its place, and for an async invocation the place's queue
// fee.
func (p *Prices) Price(b Bill) (float64, error) {
	fee, err := p.RequestFee(b.Place)
	if err != nil {
		return 0, fmt.Errorf("bill of group %q: %w", b.Group, err)
	}
	ps, err := p.PerSecond(b.Place, b.MemoryMB)
	if err != nil {
		return 0, fmt.Errorf("bill of group %q: %w", b.Group, err)
	}
	c := fee + b.Billed.Seconds()*ps
	if b.Async {
		af, err := p.AsyncFee(b.Place)
		if err != nil {
			return 0, fmt.Errorf("bill of group %q: %w", b.Group, err)
		}
		c += af
	}
	return c, nil
}

// PriceBills returns the summed price of bills.
func (p *Prices) PriceBills(bills []Bill) (float64, error) {
	var total float64
	for _, b := range bills {
		c, err := p.Price(b)
		if err != nil {
			return 0, err
		}
		total += c
	}
	return total, nil
}
