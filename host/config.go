package host

import (
	"log/slog"
	"runtime"
	"time"

	"github.com/fusionize/fusionize/api/span"
)

// Config configures a Host. The zero value of every field selects the
// documented default.
type Config struct {
	// Name identifies the host in spans and errors. Default "local".
	Name string
	// Group is the fusion group this host serves. With a Setup, tasks of
	// other groups are called through Transport at their group's endpoint;
	// without one, the host runs only the tasks it has loaded.
	Group string
	// App scopes the key-value store's keys.
	App string

	// CacheDir holds wazero's compilation cache. Empty: compile in memory
	// every time the process starts.
	CacheDir string

	// PoolSize is the number of idle instances kept per task; a fused
	// module keeps PoolSize per task it holds in its one pool. Default
	// 2 × GOMAXPROCS.
	PoolSize int
	// MaxConcurrent bounds invocations arriving through Invoke or Serve that
	// run at once; in-memory calls between tasks don't count, so a chain of
	// calls can never deadlock on it. Default 128.
	MaxConcurrent int
	// MaxAsync bounds accepted async calls still running or queued; past it
	// an async call is refused with CodeTooMany. Default 10,000.
	MaxAsync int
	// AsyncConcurrency bounds async invocations arriving from outside
	// (clients, other hosts) that run at once; the others wait in line
	// (accepted, not yet started, not yet billed), as a platform's async
	// invocation queue does. Async calls a running task makes in memory are
	// part of its work and start at once. Default 4 × GOMAXPROCS.
	AsyncConcurrency int

	// MaxPayload bounds inputs, outputs, call results and kv values, in
	// bytes. Default 4 MiB.
	MaxPayload int
	// MemoryLimitPages caps each instance's linear memory, in 64 KiB pages.
	// Default: the group's memory size (MemoryMB × 16 pages), since a
	// single instance may not use more memory than its group has; 4096
	// pages (256 MiB) when MemoryMB is 0. A value over the group's memory
	// size is lowered to it. It caps one instance, not the host: each live
	// instance may grow to it (see MemoryLimit).
	MemoryLimitPages uint32
	// MaxLogBytes bounds what one invocation may log, its stdout, stderr
	// and log import together, counting each line's bytes and its
	// newline. Lines past it are dropped and counted
	// (Stats.LogLinesDropped); when the invocation ends one warning says
	// how many. Default DefaultMaxLogBytes (256 KiB); negative: no bound.
	MaxLogBytes int
	// MaxDepth bounds chains of calls (A→B→C is depth 2). Default 32.
	MaxDepth int
	// Timeout is the deadline of a request whose context has none. Default 30 s.
	Timeout time.Duration
	// DeadlineMargin is how long before the deadline its context carries
	// Serve ends a call, at most a tenth of the time the call has left: the
	// callee is stopped and the caller gets CodeDeadline naming the task
	// before its own deadline fires (which would end the call with a bare
	// transport error that names nothing). Default 100 ms; negative: none.
	DeadlineMargin time.Duration
	// InitTimeout bounds the instantiation of one instance, the module's
	// _initialize included: one that never returns fails the load (or the
	// invocation that needed the instance) with CodeDeadline, naming the
	// task. Default 10 s. It needs preemption (see DisablePreemption).
	InitTimeout time.Duration

	// DisablePreemption turns off the interruption of running guest code
	// when an invocation's deadline passes. With it on (the default) wazero
	// watches the context of every call into a guest, which costs a
	// goroutine per call; with it off a guest that never calls the host
	// can run past its deadline, and deadlines are enforced only when the
	// guest calls an import. Only for trusted tasks.
	DisablePreemption bool

	// SpanSampleEvery is how sync calls inside a fused module are
	// recorded (guest-sdk/ABI.md, "Sampling calls inside the module"):
	// the first call of each caller→callee edge in an invocation and 1 in
	// SpanSampleEvery after it get a span of their own, timed and admitted
	// by the host; the others are counted by the guest and recorded, when
	// the invocation ends, as one span per edge whose Count says how many
	// calls it stands for. 1: every call gets its own span. Default
	// DefaultSpanSampleEvery.
	SpanSampleEvery int

	// Recorder receives a span per invocation. Default span.Discard.
	Recorder span.Recorder
	// Tracer, when set, receives every span with its trace context and
	// the client side of every remote call (host/tracing exports them over
	// OTLP); Close shuts it down when it has a Shutdown method. nil: none,
	// at no cost.
	Tracer Tracer
	// Transport carries calls to tasks outside this host (host/transport.Mux
	// picks one per endpoint kind). Nil: such calls fail with
	// CodeUnavailable.
	Transport Transport
	// Endpoints gives the endpoint of each other group of the setup: the
	// routes of remote calls. Nil: remote calls fail with CodeUnavailable.
	Endpoints Endpoints
	// KV is the application's store behind kv_get and kv_put; it serves
	// this one application, so keys reach it as the guest wrote them.
	// Default a new MemKV (runtimes give the control plane's store).
	KV KV
	// Logger receives task logs and host events. Default slog.Default().
	Logger *slog.Logger
	// MemoryMB is the memory size of the group, written into spans.
	MemoryMB int
}

// DefaultSpanSampleEvery is the default Config.SpanSampleEvery: a call
// inside a fused module costs the two host calls of its span once in 64.
const DefaultSpanSampleEvery = 64

// Memory limits, in 64 KiB wasm pages.
const (
	pagesPerMB         = 16
	defaultMemoryPages = 4096  // 256 MiB, when the group's memory size is unknown
	maxMemoryPages     = 65536 // 4 GiB, all a 32-bit linear memory can address
)

// memoryLimitPages derives the per-instance memory cap from the configured
// cap (0: none) and the group's memory size (0: unknown).
func memoryLimitPages(pages uint32, memoryMB int) uint32 {
	group := uint32(defaultMemoryPages)
	if memoryMB > 0 {
		group = uint32(min(memoryMB*pagesPerMB, maxMemoryPages))
	}
	if pages == 0 || pages > group {
		return group
	}
	return pages
}

func (c *Config) withDefaults() {
	if c.Name == "" {
		c.Name = "local"
	}
	if c.PoolSize <= 0 {
		c.PoolSize = 2 * runtime.GOMAXPROCS(0)
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 128
	}
	if c.MaxAsync <= 0 {
		c.MaxAsync = 10_000
	}
	if c.AsyncConcurrency <= 0 {
		c.AsyncConcurrency = 4 * runtime.GOMAXPROCS(0)
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 4 << 20
	}
	if c.MaxLogBytes == 0 {
		c.MaxLogBytes = DefaultMaxLogBytes
	}
	c.MemoryLimitPages = memoryLimitPages(c.MemoryLimitPages, c.MemoryMB)
	if c.MaxDepth <= 0 {
		c.MaxDepth = 32
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.DeadlineMargin == 0 {
		c.DeadlineMargin = 100 * time.Millisecond
	}
	if c.InitTimeout <= 0 {
		c.InitTimeout = 10 * time.Second
	}
	if c.SpanSampleEvery <= 0 {
		c.SpanSampleEvery = DefaultSpanSampleEvery
	}
	if c.Recorder == nil {
		c.Recorder = span.Discard
	}
	if c.KV == nil {
		c.KV = NewMemKV()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}
