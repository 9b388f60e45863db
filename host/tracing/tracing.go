// Package tracing exports a host's spans as OpenTelemetry spans over OTLP,
// beside the spans the host reports to the control plane for the fuser. It
// is a host.Tracer: the host hands it every span it records, with the W3C
// trace context the call ran in, and the client side of every remote call.
//
//	tr, err := tracing.FromEnv(ctx, tracing.Options{App: "tree", Group: g, Host: name, Setup: su})
//	if tr != nil { hc.Tracer = tr } // nil: no endpoint configured, no cost
//
// Ids are Fusionize's own, in OpenTelemetry's format: the trace id of the
// call (32 hex digits) and the span id the host gave the invocation (8
// bytes), so the OpenTelemetry trace and the control plane's spans name the
// same spans. Each task invocation is one span named after the task:
//
//	kind      SERVER for an entry invocation or a call that arrived from
//	          another host, INTERNAL for a call in memory (fused), CLIENT
//	          for the caller's side of a remote call (its child is the
//	          callee's SERVER span on the other host)
//	faas.invoked_name  the task
//	faas.trigger       http (REST, HTTPS function), pubsub (async calls),
//	                   other (gRPC, Lambda Invoke, calls in memory)
//	faas.coldstart     a new instance ran the invocation
//	faas.invocation_id the platform's request id, where known (Lambda)
//	fusionize.caller, fusionize.async, fusionize.setup_version
//	faas.invoked_provider, faas.invoked_region  on CLIENT spans: the callee
//	                   group's place
//
// and the resource names the group: service.name (the app, unless
// OTEL_SERVICE_NAME says otherwise), faas.name (the group), faas.version
// (the setup version), faas.instance (the host), faas.max_memory (the
// group's memory size, bytes), cloud.provider and cloud.region (the group's
// place; a local place has no cloud.provider). The exporter and everything
// about it come from the standard OTEL_* environment (internal/otlpenv).
//
// A span whose caller's traceparent had the sampled flag clear is dropped
// (the SDK's parent-based sampler); the control plane still gets it.
package tracing

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/internal/otlpenv"
)

// Options name what the host's spans belong to.
type Options struct {
	App   string       // service.name unless OTEL_SERVICE_NAME is set
	Group string       // faas.name
	Host  string       // faas.instance
	Setup *setup.Setup // the group's place and memory, the callees' places
}

// Tracer turns a host's spans into OpenTelemetry spans. It is safe for
// concurrent use.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	places map[string]setup.Place // group → place
}

var _ host.Tracer = (*Tracer)(nil)

// FromEnv returns a Tracer exporting over OTLP as the OTEL_* environment
// configures it, or nil, nil when it names no endpoint. Shut it down (the
// host does, in Close) to export what it still holds.
func FromEnv(ctx context.Context, o Options) (*Tracer, error) {
	if !otlpenv.Configured() {
		return nil, nil
	}
	attrs := []attribute.KeyValue{semconv.FaaSName(o.Group), semconv.FaaSInstance(o.Host)}
	places := map[string]setup.Place{}
	if o.Setup != nil {
		attrs = append(attrs, semconv.FaaSVersion(fmt.Sprint(o.Setup.Version)))
		for _, g := range o.Setup.Groups {
			places[g.Name] = g.Place
		}
		if g, ok := o.Setup.Group(o.Group); ok {
			attrs = append(attrs, semconv.FaaSMaxMemory(g.MemoryMB<<20))
			attrs = append(attrs, placeAttrs(g.Place, semconv.CloudProviderKey, semconv.CloudRegionKey)...)
		}
	}
	service := o.App
	if service == "" {
		service = "fusionize"
	}
	tp, err := otlpenv.Provider(ctx, service, attrs, sdktrace.WithIDGenerator(givenIDs{}))
	if err != nil || tp == nil {
		return nil, err
	}
	return &Tracer{tp: tp, tracer: tp.Tracer("github.com/fusionize/fusionize/host"), places: places}, nil
}

// placeAttrs describes a place with the provider and region keys given.
func placeAttrs(p setup.Place, provider, region attribute.Key) []attribute.KeyValue {
	var out []attribute.KeyValue
	switch p.Provider {
	case "", "local":
		// No cloud: cloud.provider has no value for a machine of one's own.
	default:
		out = append(out, provider.String(p.Provider))
	}
	if p.Region != "" {
		out = append(out, region.String(p.Region))
	}
	return out
}

// Span implements host.Tracer: it starts and ends an OpenTelemetry span
// with the span's ids, times and attributes.
func (t *Tracer) Span(s span.Span, tc host.SpanContext) {
	tid, err := trace.TraceIDFromHex(s.TraceID)
	if err != nil || s.ID == 0 {
		return // not a W3C trace: nothing to hang the span on
	}
	ctx := context.WithValue(context.Background(), idsKey{}, ids{trace: tid, span: spanID(s.ID)})
	if tc.Parent != 0 {
		var flags trace.TraceFlags
		if !tc.Unsampled {
			flags = trace.FlagsSampled
		}
		ts, _ := trace.ParseTraceState(tc.TraceState) // a malformed one is dropped, as the specification asks
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: spanID(tc.Parent), TraceFlags: flags, TraceState: ts, Remote: true,
		}))
	}
	kind := trace.SpanKindInternal
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, semconv.FaaSInvokedName(s.Task))
	switch {
	case tc.Client:
		kind = trace.SpanKindClient
		attrs = append(attrs, attribute.String("fusionize.callee_group", tc.Callee))
		attrs = append(attrs, placeAttrs(t.places[tc.Callee], semconv.FaaSInvokedProviderKey, semconv.FaaSInvokedRegionKey)...)
	default:
		if s.Caller == "" || s.Remote {
			kind = trace.SpanKindServer
		}
		attrs = append(attrs, semconv.FaaSColdstart(s.Cold), trigger(s, tc))
		if tc.InvocationID != "" {
			attrs = append(attrs, semconv.FaaSInvocationID(tc.InvocationID))
		}
	}
	if s.Caller != "" {
		attrs = append(attrs, attribute.String("fusionize.caller", s.Caller))
	}
	attrs = append(attrs, attribute.Bool("fusionize.async", s.Async), attribute.Int64("fusionize.setup_version", s.SetupVersion))
	_, sp := t.tracer.Start(ctx, s.Task, trace.WithSpanKind(kind), trace.WithTimestamp(s.Start), trace.WithAttributes(attrs...))
	if s.Err != "" {
		sp.SetStatus(codes.Error, s.Err)
	}
	sp.End(trace.WithTimestamp(s.Start.Add(s.Duration)))
}

// trigger is the faas.trigger of a server or internal span.
func trigger(s span.Span, tc host.SpanContext) attribute.KeyValue {
	switch {
	case s.Async:
		return semconv.FaaSTriggerPubSub
	case tc.Trigger == host.TriggerHTTP && s.Caller == "":
		return semconv.FaaSTriggerHTTP
	default:
		return semconv.FaaSTriggerOther
	}
}

// Flush exports the spans held so far (a Lambda environment freezes
// between invocations).
func (t *Tracer) Flush(ctx context.Context) error { return t.tp.ForceFlush(ctx) }

// Shutdown exports the spans held and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return t.tp.Shutdown(ctx)
}

// Provider returns the tracer provider (for instrumentation of the host's
// own servers).
func (t *Tracer) Provider() trace.TracerProvider { return t.tp }

func spanID(id uint64) trace.SpanID {
	var b trace.SpanID
	for i := 7; i >= 0; i-- {
		b[i] = byte(id)
		id >>= 8
	}
	return b
}

// givenIDs is the SDK's id generator for spans whose ids the host already
// gave: it returns the ids in the context Span starts the span with.
type givenIDs struct{}

type idsKey struct{}

type ids struct {
	trace trace.TraceID
	span  trace.SpanID
}

func (givenIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	v, _ := ctx.Value(idsKey{}).(ids)
	return v.trace, v.span
}

func (givenIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	v, _ := ctx.Value(idsKey{}).(ids)
	return v.span
}
