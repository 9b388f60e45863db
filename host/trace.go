package host

import (
	"context"
	"strconv"
	"time"

	"github.com/fusionize/fusionize/api/span"
)

// W3C trace context (https://www.w3.org/TR/trace-context/), in
// OpenTelemetry's id format: a trace id is 32 lowercase hex digits (16
// bytes), a span id 8 bytes (16 hex digits in a traceparent), neither all
// zero. The host starts a trace with an id of its own for a call whose trace
// id is not of that form; transports send a call's context as a
// traceparent (and its tracestate) on every remote call, and servers take a
// caller's traceparent in, ignoring a malformed one as the specification
// asks (the call starts a new trace; it is never an error).

// Trigger values for Call.Trigger: the faas.trigger of an entry invocation.
const (
	TriggerHTTP   = "http"   // a REST request or an HTTPS function call
	TriggerPubSub = "pubsub" // an async call, delivered from a queue
	TriggerOther  = "other"  // gRPC, the Lambda Invoke API
)

// Traceparent is a parsed W3C traceparent header.
type Traceparent struct {
	TraceID string // 32 lowercase hex digits
	Parent  uint64 // the caller's span id
	Sampled bool   // flag 01
}

// ParseTraceparent parses a W3C traceparent header
// ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"). It accepts a
// future version's longer header as the specification asks, and refuses
// version ff, uppercase hex, all-zero ids and anything malformed: ok is
// false and the caller starts a new trace.
func ParseTraceparent(h string) (tp Traceparent, ok bool) {
	if len(h) < 55 || (len(h) > 55 && h[55] != '-') {
		return Traceparent{}, false
	}
	ver, tid, pid, flags := h[0:2], h[3:35], h[36:52], h[53:55]
	if h[2] != '-' || h[35] != '-' || h[52] != '-' || !isLowerHex(ver) || ver == "ff" || !ValidTraceID(tid) || !isLowerHex(pid) || !isLowerHex(flags) {
		return Traceparent{}, false
	}
	if ver == "00" && len(h) != 55 {
		return Traceparent{}, false
	}
	p, _ := strconv.ParseUint(pid, 16, 64) // 16 hex digits: cannot fail
	f, _ := strconv.ParseUint(flags, 16, 8)
	if p == 0 {
		return Traceparent{}, false
	}
	return Traceparent{TraceID: tid, Parent: p, Sampled: f&1 == 1}, true
}

// FormatTraceparent formats the version-00 traceparent of a call with
// trace id traceID from the span parent: "" when traceID is not a valid trace
// id or parent is 0.
func FormatTraceparent(traceID string, parent uint64, sampled bool) string {
	if !ValidTraceID(traceID) || parent == 0 {
		return ""
	}
	var b [55]byte
	copy(b[:], "00-")
	copy(b[3:], traceID)
	b[35] = '-'
	const digits = "0123456789abcdef"
	for i := 0; i < 16; i++ {
		b[36+i] = digits[(parent>>(60-4*i))&0xf]
	}
	copy(b[52:], "-00")
	if sampled {
		b[54] = '1'
	}
	return string(b[:])
}

// ValidTraceID reports whether id is a W3C trace id: 32 lowercase hex
// digits, not all zero.
func ValidTraceID(id string) bool {
	if len(id) != 32 || !isLowerHex(id) {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] != '0' {
			return true
		}
	}
	return false
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Traceparent returns the traceparent a transport sends for c: the trace,
// and as parent the span c's callee hangs under (SpanParent, else
// ParentID). "" when c has no valid trace context.
func (c *Call) Traceparent() string {
	return FormatTraceparent(c.TraceID, c.spanParent(), !c.Unsampled)
}

// SetTraceparent takes a caller's traceparent and tracestate in: the trace
// id and the span parent. A malformed traceparent is ignored (the call
// keeps the trace context it has, or starts a new trace), and so is the
// tracestate that came with it.
func (c *Call) SetTraceparent(traceparent, tracestate string) {
	tp, ok := ParseTraceparent(traceparent)
	if !ok {
		return
	}
	c.TraceID, c.SpanParent, c.Unsampled = tp.TraceID, tp.Parent, !tp.Sampled
	c.TraceState = tracestate
	if tp.Parent == c.ParentID {
		c.SpanParent = 0 // the same span either way
	}
}

// spanParent is the span the OpenTelemetry span of c is a child of.
func (c *Call) spanParent() uint64 {
	if c.SpanParent != 0 {
		return c.SpanParent
	}
	return c.ParentID
}

// Tracer receives every span a host records, with the trace context it ran
// in, and the client side of every remote call, to export them as
// OpenTelemetry spans (host/tracing). The host calls it on the request path,
// after the span's work is done; Span must not block for long. A nil
// Config.Tracer costs nothing.
type Tracer interface {
	Span(s span.Span, tc SpanContext)
}

// SpanContext is what an OpenTelemetry span needs beyond a span.Span.
type SpanContext struct {
	// Parent is the span's parent: the caller's instance span, the
	// caller's client span of a remote call, or an outside caller's span
	// (its traceparent); 0 for the root of a trace.
	Parent       uint64
	TraceState   string // W3C tracestate of the trace, passed on unchanged
	Unsampled    bool   // the caller's traceparent had the sampled flag clear
	Trigger      string // how an entry invocation arrived (Trigger*); "" for a call between tasks
	InvocationID string // the platform's id of the invocation, where known
	// Client marks the client side of a remote call: s.Task is the
	// callee, s.Group the caller's group, Callee the callee's group.
	Client bool
	Callee string
}

// newSpanID returns a span id unique within the host's run: its random
// upper half and a counter.
func (h *Host) newSpanID() uint64 { return h.idBase | (h.nextID.Add(1) & 0xffffffff) }

// AssignIDs gives c a trace id (when its own is not a valid one: a new
// trace) and the span id its invocation will record (when it has none), so
// a server can answer with both. Serve calls it too; calling it first is
// optional.
func (h *Host) AssignIDs(c *Call) {
	if !ValidTraceID(c.TraceID) {
		c.TraceID = h.newTraceID()
		c.SpanParent, c.TraceState, c.Unsampled = 0, "", false
	}
	if c.SpanID == 0 {
		c.SpanID = h.newSpanID()
	}
}

// sendRemote sends c through the transport and, with a Tracer, reports the
// client span of the call.
func (h *Host) sendRemote(ctx context.Context, to Target, c *Call) ([]byte, error) {
	if h.cfg.Tracer == nil {
		return h.cfg.Transport.Invoke(ctx, to, *c)
	}
	cc := *c
	cc.SpanParent = c.SpanID
	if cc.SpanParent == 0 {
		cc.SpanParent = h.newSpanID()
	}
	cc.SpanID = 0
	start := time.Now()
	out, err := h.cfg.Transport.Invoke(ctx, to, cc)
	s := span.Span{
		TraceID: c.TraceID, ID: cc.SpanParent, ParentID: c.ParentID, Caller: c.Caller, Task: c.Task,
		Async: c.Async, Remote: true, Group: h.cfg.Group, Host: h.cfg.Name,
		SetupVersion: h.routes.Load().version, Start: start, Duration: time.Since(start),
		MemoryMB: h.cfg.MemoryMB, InputBytes: len(c.Input), OutputBytes: len(out),
	}
	if err != nil {
		s.Err = err.Error()
	}
	h.cfg.Tracer.Span(s, SpanContext{
		Parent: c.spanParent(), TraceState: c.TraceState, Unsampled: c.Unsampled,
		Trigger: c.Trigger, InvocationID: c.InvocationID, Client: true, Callee: to.Group,
	})
	return out, err
}

// FlushTracer exports the spans the Tracer holds, when it has a Flush
// method (host/tracing): a runtime whose environment freezes or is
// throttled after an answer (Lambda, Cloud Run) calls it before answering.
func (h *Host) FlushTracer(ctx context.Context) error {
	if f, ok := h.cfg.Tracer.(interface{ Flush(context.Context) error }); ok {
		return f.Flush(ctx)
	}
	return nil
}
