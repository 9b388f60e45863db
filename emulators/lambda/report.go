package lambda

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Report is what Lambda's REPORT log line says about one invocation, and its cost.
type Report struct {
	Function  string
	Version   string // the executed version: $LATEST or a number
	RequestID string
	Async     bool // an Event invocation (one report per attempt)
	Time      time.Time

	// Duration runs from the event's delivery (the runtime's GET /next answered) until the
	// runtime asks for the next event, in the environment's own time (see
	// emulators/sandbox.Env.Since), so it does not depend on this machine's load.
	Duration time.Duration
	// BilledDuration is Duration plus InitDuration, rounded up to 1 ms (custom runtimes are
	// billed for their init phase).
	BilledDuration time.Duration
	// InitDuration is the cold start's init: process start until the runtime's first GET
	// /next, in environment time; 0 on a warm invocation. It excludes the emulated sandbox
	// delay (Options.SandboxDelay), as Lambda's excludes its own sandbox creation.
	InitDuration  time.Duration
	Cold          bool
	MemorySizeMB  int
	MaxMemoryUsed int // MB: the environment's peak so far
	Architecture  string

	// NetworkRTT is the EMULATED round trip between the caller's place and the
	// function's that the request waited before it was dispatched (Options.RTT); it is
	// in neither Duration nor BilledDuration, as Lambda bills no network time.
	NetworkRTT time.Duration

	// TraceID is the W3C form (32 hex digits) of the X-Ray trace the Invoke
	// carried in its X-Amzn-Trace-Id header, "" when it carried none; as on
	// Lambda, the runtime sees that header as Lambda-Runtime-Trace-Id.
	TraceID string

	// Stretch is how much longer than the emulated platform this machine
	// took to answer a synchronous invocation: the wall time from the
	// Invoke's dispatch to the runtime's response, less the emulated time
	// (the sandbox delay and InitDuration of a cold start, then the
	// environment's own time since delivery). It is the time the
	// environment waited for a physical CPU of this machine, which every
	// emulated duration leaves out; a client that subtracts it from what it
	// timed sees the answer time of the emulated platform. 0 for an Event
	// invocation and for one that did not answer. EMULATOR ONLY: Lambda
	// reports no such figure.
	Stretch time.Duration
	// WallDuration is Duration's stretch on this machine's clock: at least
	// Duration, more by the time the environment waited for a physical CPU
	// (Duration ÷ WallDuration is the share of the run the emulated
	// platform would have taken). EMULATOR ONLY.
	WallDuration time.Duration

	Status    string // "success", "error" or "timeout"
	ErrorType string // for an error or a timeout

	// CostUSD is BilledDuration × memory at the list price per GB-second for the
	// architecture, plus the per-request fee: computed from prices, not billed by a cloud.
	CostUSD float64
	// Line is the REPORT line as written to the function's log.
	Line string
}

// List prices (us-east-1) the reports' CostUSD uses.
const (
	PriceX86PerGBSecond   = 0.0000166667
	PriceArm64PerGBSecond = 0.0000133334
	PricePerRequest       = 0.20 / 1e6
)

func billed(d, init time.Duration) time.Duration {
	ms := math.Ceil(float64(d+init) / float64(time.Millisecond))
	return time.Duration(ms) * time.Millisecond
}

func cost(billed time.Duration, memoryMB int, arch string) float64 {
	price := PriceX86PerGBSecond
	if arch == "arm64" {
		price = PriceArm64PerGBSecond
	}
	return billed.Seconds()*float64(memoryMB)/1024*price + PricePerRequest
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// line formats r as Lambda's REPORT line.
func (r *Report) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t",
		r.RequestID, ms(r.Duration), r.BilledDuration.Milliseconds(), r.MemorySizeMB, r.MaxMemoryUsed)
	if r.Cold {
		fmt.Fprintf(&b, "Init Duration: %.2f ms\t", ms(r.InitDuration))
	}
	if r.Status != "success" {
		fmt.Fprintf(&b, "Status: %s\t", r.Status)
		if r.ErrorType != "" && r.Status == "error" {
			fmt.Fprintf(&b, "Error Type: %s\t", r.ErrorType)
		}
	}
	return b.String()
}
