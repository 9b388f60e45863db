// Package cost prices serverless invocations: what one span, one request and
// a million requests cost on AWS Lambda, Google Cloud Run functions or a local
// host.
//
// The model is the providers' published pay-per-use rule: a fee per request
// plus billed time × a price per second that depends on the memory size (and,
// on Google Cloud, on the vCPU share tied to it). Billed time is the
// invocation's wall time rounded up to the platform's granularity. A caller
// that waits on a remote sync call is billed for the wait: its span's
// Duration includes Wait, and Duration is what is billed.
//
// Every span with Remote set, or with no Caller, is one platform invocation
// (a group invocation): one request fee plus its billed time. Spans of tasks
// called in memory belong to their group invocation; their time is already
// inside it, except that an in-memory async task still running when its
// group's entry task returns extends the invocation.
//
//	p := cost.Default()
//	placeOf := cost.PlacesOf(current)             // group -> provider/region
//	sum, err := p.Summarize(spans, placeOf)
//	fmt.Printf("$%.2f per million requests\n", sum.PerMillion)
//
// What a platform reported for an invocation (a Bill: Lambda's REPORT
// line, Cloud Run's request log) is priced by Price from its billed
// duration; the feedback loop measures cost that way when it can.
//
// Prices are defaults (list prices in us-east-1 / us-east4 at the time of
// writing) and can be overridden from JSON with ParsePrices.
package cost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fusionize/fusionize/api/setup"
)

// Default list prices.
const (
	// AWS Lambda, per GB-second of billed time (GB = MemoryMB/1024).
	LambdaX86PerGBSecond   = 0.0000166667
	LambdaARM64PerGBSecond = 0.0000133334
	// AWS Lambda, per million requests.
	LambdaPerMillionRequests = 0.20
	// AWS Lambda bills in 1 ms steps.
	LambdaGranularityMs = 1

	// Google Cloud Run functions (request-based billing).
	GCPPerVCPUSecond      = 0.000024
	GCPPerGiBSecond       = 0.0000025
	GCPPerMillionRequests = 0.40
	GCPGranularityMs      = 100
	// Google Cloud Tasks, the queue of async calls to Cloud Functions
	// (which have no async invoke): per million billable operations after
	// the first million a month, which are free (not modelled: a fuser
	// prices the steady state). An async call is two operations: the
	// CreateTask call and its delivery (each retry is one more).
	GCPCloudTasksPerMillionOperations = 0.40
	GCPCloudTasksOperationsPerCall    = 2
	defaultGCPMaxMemoryMiB            = 8192
)

// Provider names as they appear in setup.Place.Provider.
const (
	ProviderAWS   = "aws"
	ProviderGCP   = "gcp"
	ProviderLocal = "local"
)

// ArchARM64 is the setup.Place.Arch value billed at the arm64 price.
const ArchARM64 = "arm64"

// Errors.
var (
	// ErrUnknownProvider is returned for a place whose provider has no prices.
	ErrUnknownProvider = errors.New("cost: unknown provider")
	// ErrUnknownGroup is returned when a span's group has no place.
	ErrUnknownGroup = errors.New("cost: group has no place")
	// ErrBadPrices is wrapped by every price validation error.
	ErrBadPrices = errors.New("cost: bad prices")
)

// VCPUStep says how many vCPUs a memory size comes with. A table of steps is
// read as: the first step whose MemoryMB is at least the requested memory.
type VCPUStep struct {
	MemoryMB int     `json:"memoryMB"`
	VCPU     float64 `json:"vcpu"`
}

// DefaultGCPVCPU is the memory→vCPU table used for Google Cloud Run
// functions (1st-gen-compatible tiers): 128 MB→0.083, 256→0.167, 512→0.333,
// 1024→0.583, 2048→1, 4096→2, 8192→2 vCPU.
func DefaultGCPVCPU() []VCPUStep {
	return []VCPUStep{
		{128, 0.083}, {256, 0.167}, {512, 0.333}, {1024, 0.583},
		{2048, 1}, {4096, 2}, {defaultGCPMaxMemoryMiB, 2},
	}
}

// Lambda holds AWS Lambda prices.
type Lambda struct {
	X86PerGBSecond     float64 `json:"x86PerGBSecond"`
	ARM64PerGBSecond   float64 `json:"arm64PerGBSecond"`
	PerMillionRequests float64 `json:"perMillionRequests"`
	GranularityMs      float64 `json:"granularityMs"`
}

// CloudRun holds Google Cloud Run functions prices (request-based billing).
type CloudRun struct {
	PerVCPUSecond      float64    `json:"perVCPUSecond"`
	PerGiBSecond       float64    `json:"perGiBSecond"`
	PerMillionRequests float64    `json:"perMillionRequests"`
	GranularityMs      float64    `json:"granularityMs"`
	VCPU               []VCPUStep `json:"vcpu"`
	// TasksPerMillionOperations is Cloud Tasks' price, which every async
	// call to a Cloud Function pays (AsyncFee).
	TasksPerMillionOperations float64 `json:"tasksPerMillionOperations"`
}

// Local holds the prices of local hosts: zero unless configured.
type Local struct {
	PerGBSecond        float64 `json:"perGBSecond"`
	PerMillionRequests float64 `json:"perMillionRequests"`
	GranularityMs      float64 `json:"granularityMs"`
}

// Prices is the price list of every provider.
type Prices struct {
	AWS   Lambda   `json:"aws"`
	GCP   CloudRun `json:"gcp"`
	Local Local    `json:"local"`
}

// Default returns the default price list.
func Default() Prices {
	return Prices{
		AWS: Lambda{
			X86PerGBSecond:     LambdaX86PerGBSecond,
			ARM64PerGBSecond:   LambdaARM64PerGBSecond,
			PerMillionRequests: LambdaPerMillionRequests,
			GranularityMs:      LambdaGranularityMs,
		},
		GCP: CloudRun{
			PerVCPUSecond:      GCPPerVCPUSecond,
			PerGiBSecond:       GCPPerGiBSecond,
			PerMillionRequests: GCPPerMillionRequests,
			GranularityMs:      GCPGranularityMs,
			VCPU:               DefaultGCPVCPU(),

			TasksPerMillionOperations: GCPCloudTasksPerMillionOperations,
		},
		Local: Local{GranularityMs: 1},
	}
}

// ParsePrices decodes a price list from JSON over the defaults: fields left
// out keep their default values. Unknown fields are rejected.
func ParsePrices(data []byte) (Prices, error) {
	p := Default()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Prices{}, fmt.Errorf("cost: parse prices: %w", err)
	}
	if err := p.Validate(); err != nil {
		return Prices{}, err
	}
	return p, nil
}

// Validate rejects negative, infinite or NaN prices and a malformed vCPU table.
func (p *Prices) Validate() error {
	nums := []struct {
		name string
		v    float64
	}{
		{"aws.x86PerGBSecond", p.AWS.X86PerGBSecond},
		{"aws.arm64PerGBSecond", p.AWS.ARM64PerGBSecond},
		{"aws.perMillionRequests", p.AWS.PerMillionRequests},
		{"aws.granularityMs", p.AWS.GranularityMs},
		{"gcp.perVCPUSecond", p.GCP.PerVCPUSecond},
		{"gcp.perGiBSecond", p.GCP.PerGiBSecond},
		{"gcp.perMillionRequests", p.GCP.PerMillionRequests},
		{"gcp.granularityMs", p.GCP.GranularityMs},
		{"gcp.tasksPerMillionOperations", p.GCP.TasksPerMillionOperations},
		{"local.perGBSecond", p.Local.PerGBSecond},
		{"local.perMillionRequests", p.Local.PerMillionRequests},
		{"local.granularityMs", p.Local.GranularityMs},
	}
	for _, n := range nums {
		if n.v < 0 || math.IsNaN(n.v) || math.IsInf(n.v, 0) {
			return fmt.Errorf("%w: %s = %v", ErrBadPrices, n.name, n.v)
		}
	}
	for _, g := range []float64{p.AWS.GranularityMs, p.GCP.GranularityMs, p.Local.GranularityMs} {
		if g > 60_000 {
			return fmt.Errorf("%w: granularity %v ms exceeds one minute", ErrBadPrices, g)
		}
	}
	if len(p.GCP.VCPU) == 0 {
		return fmt.Errorf("%w: gcp.vcpu table is empty", ErrBadPrices)
	}
	prev := 0
	for _, s := range p.GCP.VCPU {
		if s.MemoryMB <= prev {
			return fmt.Errorf("%w: gcp.vcpu memory sizes must increase (%d after %d)", ErrBadPrices, s.MemoryMB, prev)
		}
		if !(s.VCPU > 0) || math.IsInf(s.VCPU, 0) {
			return fmt.Errorf("%w: gcp.vcpu %d MB has %v vCPU", ErrBadPrices, s.MemoryMB, s.VCPU)
		}
		prev = s.MemoryMB
	}
	return nil
}

// VCPU returns the vCPUs that memoryMB comes with in table: the first step
// whose memory is at least memoryMB, or the last step beyond the table.
func VCPU(table []VCPUStep, memoryMB int) float64 {
	for _, s := range table {
		if memoryMB <= s.MemoryMB {
			return s.VCPU
		}
	}
	if len(table) == 0 {
		return 1
	}
	return table[len(table)-1].VCPU
}

func (p *Prices) granularity(place setup.Place) (time.Duration, error) {
	var ms float64
	switch place.Provider {
	case ProviderAWS:
		ms = p.AWS.GranularityMs
	case ProviderGCP:
		ms = p.GCP.GranularityMs
	case ProviderLocal, "":
		ms = p.Local.GranularityMs
	default:
		return 0, fmt.Errorf("%w: %q", ErrUnknownProvider, place.Provider)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// Billed returns d rounded up to the billing granularity of place. Negative
// durations bill as zero.
func (p *Prices) Billed(place setup.Place, d time.Duration) (time.Duration, error) {
	g, err := p.granularity(place)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, nil
	}
	if g <= 0 {
		return d, nil
	}
	return (d + g - 1) / g * g, nil
}

// PerSecond returns the price of one second of billed time of a group with
// memoryMB on place.
func (p *Prices) PerSecond(place setup.Place, memoryMB int) (float64, error) {
	mem := float64(max(memoryMB, 0))
	switch place.Provider {
	case ProviderAWS:
		price := p.AWS.X86PerGBSecond
		if place.Arch == ArchARM64 {
			price = p.AWS.ARM64PerGBSecond
		}
		return mem / 1024 * price, nil
	case ProviderGCP:
		return VCPU(p.GCP.VCPU, memoryMB)*p.GCP.PerVCPUSecond + mem/1024*p.GCP.PerGiBSecond, nil
	case ProviderLocal, "":
		return mem / 1024 * p.Local.PerGBSecond, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownProvider, place.Provider)
}

// RequestFee returns the price of one invocation on place.
func (p *Prices) RequestFee(place setup.Place) (float64, error) {
	switch place.Provider {
	case ProviderAWS:
		return p.AWS.PerMillionRequests / 1e6, nil
	case ProviderGCP:
		return p.GCP.PerMillionRequests / 1e6, nil
	case ProviderLocal, "":
		return p.Local.PerMillionRequests / 1e6, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownProvider, place.Provider)
}

// AsyncFee returns what an async call to a group on place costs on top of
// its invocation: on Google Cloud, the Cloud Tasks operations of the queue
// it goes through; nothing elsewhere (Lambda's Event invoke is one request).
func (p *Prices) AsyncFee(place setup.Place) (float64, error) {
	switch place.Provider {
	case ProviderGCP:
		return GCPCloudTasksOperationsPerCall * p.GCP.TasksPerMillionOperations / 1e6, nil
	case ProviderAWS, ProviderLocal, "":
		return 0, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownProvider, place.Provider)
}

// Invocation returns the price of one platform invocation of a group with
// memoryMB on place that ran for d: the request fee plus the billed time.
func (p *Prices) Invocation(place setup.Place, memoryMB int, d time.Duration) (float64, error) {
	fee, err := p.RequestFee(place)
	if err != nil {
		return 0, err
	}
	billed, err := p.Billed(place, d)
	if err != nil {
		return 0, err
	}
	ps, err := p.PerSecond(place, memoryMB)
	if err != nil {
		return 0, err
	}
	return fee + billed.Seconds()*ps, nil
}
