package gcf

import (
	"math"
	"time"
)

// Cloud Run request-based billing, tier 1, as Cloud Functions (2nd gen) is
// billed. Every price the emulator uses is here.
const (
	PricePerVCPUSecond = 0.000024
	PricePerGiBSecond  = 0.0000025
	PricePerRequest    = 0.40 / 1e6
	BillingGranularity = 100 * time.Millisecond
)

// Request is what the platform reports for one request to a function. Every
// figure is emulated: measured on this machine in the instance's own time
// (sandbox environment time, independent of the machine's load) and priced
// with Cloud Run's published rates.
type Request struct {
	Function string    `json:"function"` // projects/P/locations/L/functions/F
	Revision string    `json:"revision"`
	Instance string    `json:"instance"`
	Start    time.Time `json:"start"`
	Status   int       `json:"status"`
	Cold     bool      `json:"cold"`
	// Duration is the instance time from request start to response end.
	Duration time.Duration `json:"duration_ns"`
	// Init is the cold start: process start until it listened (cold only).
	Init time.Duration `json:"init_ns"`
	// SandboxDelay is the emulated platform sandbox start added (cold only).
	SandboxDelay time.Duration `json:"sandbox_delay_ns"`
	// NetworkRTT is the emulated round trip between the caller's place and
	// the function's that the request waited before it was routed
	// (Options.RTT); it is in neither Duration nor Billed, as Cloud Run
	// bills no network time.
	NetworkRTT time.Duration `json:"emulated_network_rtt_ns,omitempty"`
	// Trace is the request's trace id (32 hex digits) from its traceparent
	// or X-Cloud-Trace-Context header, as Cloud Run's request log has it;
	// "" when it carried neither.
	Trace string `json:"trace,omitempty"`
	// Stretch is how much longer than the emulated platform this machine
	// took to answer: the wall time of the instance's start less its Init
	// and SandboxDelay (cold only), plus the wall time of the request on
	// the instance less Duration. It is the time the instance waited for a
	// physical CPU of this machine, which every emulated duration leaves
	// out; a client that subtracts it from what it timed sees the answer
	// time of the emulated platform. EMULATOR ONLY: Cloud Run reports no
	// such figure.
	Stretch time.Duration `json:"emulator_stretch_ns,omitempty"`
	// WallDuration is Duration's stretch on this machine's clock: at least
	// Duration, more by the time the instance waited for a physical CPU.
	// EMULATOR ONLY.
	WallDuration time.Duration `json:"emulator_wall_duration_ns,omitempty"`
	// Billed is Init+Duration rounded up to 100 ms.
	Billed      time.Duration `json:"billed_ns"`
	MemoryMB    int           `json:"memory_mb"`
	MaxMemoryMB int           `json:"max_memory_mb"`
	VCPU        float64       `json:"vcpu"`
	CostUSD     float64       `json:"cost_usd"`
	Error       string        `json:"error,omitempty"`
	Emulated    bool          `json:"emulated"` // always true
}

// billed rounds instance time up to Cloud Run's 100 ms.
func billed(d time.Duration) time.Duration {
	if d <= 0 {
		return BillingGranularity
	}
	return (d + BillingGranularity - 1) / BillingGranularity * BillingGranularity
}

// cost prices billed instance time at vcpu and memoryBytes, plus the request fee.
func cost(b time.Duration, vcpu float64, memoryBytes uint64) float64 {
	s := b.Seconds()
	c := s*vcpu*PricePerVCPUSecond + s*float64(memoryBytes)/(1<<30)*PricePerGiBSecond + PricePerRequest
	return math.Round(c*1e12) / 1e12
}

// maxRequests bounds the kept request reports (oldest dropped).
const maxRequests = 100_000

func (e *Emulator) record(r Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.requests) >= maxRequests {
		e.requests = append(e.requests[:0], e.requests[len(e.requests)/2:]...)
	}
	e.requests = append(e.requests, r)
}

// Requests returns the reports of requests to function (its full name or
// id; "" for all), oldest first.
func (e *Emulator) Requests(function string) []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Request
	for _, r := range e.requests {
		if function == "" || r.Function == function || functionID(r.Function) == function {
			out = append(out, r)
		}
	}
	return out
}

func functionID(full string) string {
	for i := len(full) - 1; i >= 0; i-- {
		if full[i] == '/' {
			return full[i+1:]
		}
	}
	return full
}
