// Package host runs the tasks of one fusion group on wazero and routes their
// calls: to another task of the group in memory, to any other group through
// a Transport, at the endpoint the deployer recorded for that group
// (Config.Endpoints). It is platform-neutral: it knows nothing of clouds,
// of the control plane's store, or of how it was started.
//
//	h, err := host.New(ctx, host.Config{Name: "h1", Group: "g", CacheDir: ".fusionize/cache"})
//	if err != nil { ... }
//	defer h.Close(ctx)
//	if err := h.LoadFile(ctx, "A", "build/A.wasm", ""); err != nil { ... }
//	out, err := h.Invoke(ctx, "A", []byte(`{"n":1}`))
//
// Modules follow the guest ABI (guest-sdk/ABI.md). Load validates a module's
// shape, checks its digest, compiles it once (through wazero's compilation
// cache when Config.CacheDir is set) and instantiates one warm instance,
// which checks the ABI version. Invocations borrow an instance from the
// task's pool; a trapped instance is discarded and replaced.
//
// A fused module (guest ABI version 2, built by guest-sdk/build.BuildFused)
// holds several tasks with one pool of instances; LoadFusedFile loads it
// for the tasks it must hold, beside modules of one task in the same group:
//
//	err := h.LoadFusedFile(ctx, []string{"A", "B", "C"}, "build/fused-A-B-C.wasm", "")
//
// A sync call between two of its tasks stays inside the instance. The
// module reports a sample of them through the span_begin and span_end
// imports (the first call of each edge in an invocation and 1 in
// Config.SpanSampleEvery after it), each with its span, caller and parent
// as a call through the host has, and counts the others in a span table
// the host reads when the invocation ends: one aggregate span per edge,
// whose span.Span.Count says how many calls it stands for, so the calls
// per edge are exact (guest-sdk/ABI.md, "Sampling calls inside the
// module"). A trap discards the instance, for all of its tasks, and the
// error names the task that was running.
//
// Limits, each with an error that names the task and the host: a payload
// limit (CodeTooLarge; an error message over it is truncated, not lost), a
// memory cap per instance derived from the group's memory size (a Go guest
// past it is reported out of memory; on Linux each instance's memory is a
// mapping of its own outside Go's heap, grown in place), a deadline per request that stops
// running guest code a little before the caller's own deadline
// (CodeDeadline, naming the sync callee that ran out of time), a maximum
// call depth that ends call cycles (CodeDepth), a bound on async calls in
// flight (CodeTooMany), and a bound on what one invocation logs (lines past
// it are counted). Guest log lines carry the task and the trace id. Errors
// are *Error values whose Code equals the ABI's error code; errors.Is
// matches them against the sentinels in errors.go.
//
// Every invocation yields a span.Span to Config.Recorder (and, with a
// Config.Tracer, an OpenTelemetry span: host/tracing). Trace ids are W3C's
// (32 lowercase hex digits), span ids 8 bytes; the transports send a call's
// trace context as a traceparent (trace.go). Async calls are
// tracked: Close waits for them, and a failed one is counted in Stats and
// recorded in its span.
//
// One dispatch decides where every call runs, whether it arrives from a
// client, another host or a guest's call import: in memory when its task is
// loaded here, else through Config.Transport to the endpoint of its group;
// each entry path checks the payload and the call depth once.
//
// SetSetup switches routing to a fusion setup; Drain and Quiet support live
// switches (see fuser/deploy). The transports are in host/transport (a mux
// by endpoint kind) and host/transport/grpc; the gRPC and REST face of a
// host is host/server; runtime.NewHost builds a host for a group, and
// runtime/process runs one as a local process wired to the control plane.
package host
