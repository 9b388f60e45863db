// Package host runs the tasks of one fusion group on wazero and routes their
// calls: to another task of the group in memory, to any other group through
// a Transport.
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
// Limits, each with an error that names the task and the host: a payload
// limit (CodeTooLarge), a memory cap per instance, a deadline per request
// that stops running guest code (CodeDeadline), a maximum call depth that
// ends call cycles (CodeDepth), a bound on async calls in flight
// (CodeTooMany). Errors are *Error values whose Code equals the ABI's error
// code; errors.Is matches them against the sentinels in errors.go.
//
// Every invocation yields a span.Span to Config.Recorder. Async calls are
// tracked: Close waits for them, and a failed one is counted in Stats and
// recorded in its span.
//
// SetSetup switches routing to a fusion setup; Drain and Quiet support live
// switches (see fuser/deploy). The gRPC face of a host is in host/remote; a
// whole host process, wired to the control plane, is host/node.
package host
