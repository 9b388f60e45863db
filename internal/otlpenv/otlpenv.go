// Package otlpenv builds an OpenTelemetry tracer provider that exports over
// OTLP, configured the standard way, by the environment, and only when an
// endpoint is set there:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   where to send (required)
//	OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL    grpc or http/protobuf (default, as the specification says)
//	OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _INSECURE, _CERTIFICATE, …    read by the exporters themselves
//	OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES                         read by the SDK's resource
//	OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_BSP_*           read by the SDK's provider
//	OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none                   turn it off
//
// With no endpoint, Provider returns nil and nothing is created.
//
//	tp, err := otlpenv.Provider(ctx, "fusionize-controlplane", nil)
//	if tp != nil { defer tp.Shutdown(ctx) }
package otlpenv

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Prefix starts the name of every variable the OpenTelemetry SDK reads;
// hosts pass the variables with it to the functions they deploy.
const Prefix = "OTEL_"

// Configured reports whether the environment names an OTLP trace endpoint
// and does not turn tracing off.
func Configured() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || os.Getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Provider returns a tracer provider with a batching OTLP exporter and a
// resource of service (the default service.name), attrs, and what
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say (they win). It returns
// nil, nil when the environment configures no endpoint. opts are added to
// the provider's options.
func Provider(ctx context.Context, service string, attrs []attribute.KeyValue, opts ...sdktrace.TracerProviderOption) (*sdktrace.TracerProvider, error) {
	if !Configured() {
		return nil, nil
	}
	exp, err := exporter(ctx)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(append([]attribute.KeyValue{attribute.String("service.name", service)}, attrs...)...),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("otlp: resource: %w", err)
	}
	return sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}, opts...)...), nil
}

// exporter creates the OTLP exporter of the configured protocol.
func exporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	name, proto := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		name, proto = "OTEL_EXPORTER_OTLP_PROTOCOL", os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "grpc":
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp: grpc exporter: %w", err)
		}
		return exp, nil
	case "", "http/protobuf":
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp: http exporter: %w", err)
		}
		return exp, nil
	default:
		return nil, fmt.Errorf("otlp: %s=%q: want grpc or http/protobuf", name, proto)
	}
}

// Environ returns the OTEL_* variables of the environment as KEY=value, for
// a process or function a host starts, so that it exports too.
func Environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, Prefix) {
			out = append(out, kv)
		}
	}
	return out
}
