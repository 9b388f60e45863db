// Package grpctransport is the gRPC invoke path between Fusionize hosts:
// the host.Transport for endpoints of kind api.KindGRPC, the wire protocol
// (metadata keys, the mapping between host codes and gRPC status codes) and
// the one HostService client of the module. Its server side is host/server.
//
// # Wiring
//
// The host of group "b" serves its tasks (host/server):
//
//	hb, _ := host.New(ctx, host.Config{Name: "host-b", Group: "b"})
//	_ = hb.LoadFile(ctx, "echo", "echo.wasm", "")
//	srv, _ := server.New(hb, server.Options{})
//	lis, _ := net.Listen("tcp", "127.0.0.1:9001")
//	go srv.Serve(lis)
//
// The host of group "a" reaches group "b" at the endpoint recorded for it,
// through a mux that picks this transport for grpc endpoints:
//
//	tr, _ := grpctransport.NewTransport(grpctransport.Options{})
//	defer tr.Close()
//	mux := transport.NewMux()
//	mux.Register(api.KindGRPC, tr)
//	ha, _ := host.New(ctx, host.Config{Name: "host-a", Group: "a", Transport: mux,
//		Endpoints: host.StaticEndpoints{"b": api.GRPC("127.0.0.1:9001")}})
//	_ = ha.LoadFile(ctx, "caller", "caller.wasm", "")
//	_ = ha.SetSetup(s) // caller in group "a", echo in group "b"
//	out, err := ha.Invoke(ctx, "caller", in) // caller's call to echo runs on host-b
//
// Set Options.MaxPayload to the host's Config.MaxPayload (the server takes
// its host's). The gRPC message limits sit above the payload limit
// (MessageLimits): a side sends up to the payload limit plus Overhead and
// receives up to twice the payload limit plus Overhead, so an input over
// the limit is refused by the host's payload check (CodeTooLarge, naming
// the task and the limit) and never by gRPC's message limit; the
// Transport refuses to send an input over its own limit.
// Connections are plaintext to loopback addresses by default
// (credentials/local); set Options.TLS and the server's TLS between
// machines, or Options.Insecure on a trusted network.
//
// # What travels with a call
//
// The request carries task, input, async, caller, trace id, parent span id
// and call depth; the trace context also travels as the W3C traceparent
// (and tracestate, when the trace has one) metadata, whose parent is the
// span the callee's OpenTelemetry span hangs under (host.Call.Traceparent),
// and the caller's span, the caller and the depth as fusionize-parent-span,
// fusionize-caller and fusionize-depth. The server prefers the metadata
// when both are set and ignores a malformed traceparent.
// The caller's remaining deadline travels as gRPC's grpc-timeout, so the
// callee stops when the caller gives up; a host gives every call a deadline
// (host.Config.Timeout). A call with a caller came from another host and
// is recorded in the callee's span as remote; a call without one is a
// client request.
//
// # The invoke token
//
// Hosts of an app require its invoke token on Invoke, from clients and
// from each other (host/server Options.InvokeToken); set
// Options.InvokeToken to the same token and every Invoke carries
// "authorization: Bearer <token>". A refused call comes back as
// CodeInternal with the host's Unauthenticated message, which says what
// was missing and never the token. Health needs no token. The other invoke
// paths authenticate the platform's way instead (the Lambda Invoke API
// with IAM-signed requests, Cloud Functions with Google ID tokens), so
// they carry no second token.
//
// # Status codes
//
// Errors become gRPC status codes only at the server, the service edge.
// The exact host.Code also travels, in the trailer fusionize-code and in an
// errdetails.ErrorInfo detail (domain "fusionize.v1", with the code, task,
// host and message), so the Transport returns the same *host.Error the
// callee's host raised, naming the task and the callee's host and address
// ("task \"echo\" on host host-b via 10.0.0.2:9001: …"). The REST column is
// what the grpc-gateway answers.
//
//	host.Code        gRPC                 REST  back to host.Code without the exact code
//	CodeUnknownTask  NotFound             404   CodeUnknownTask
//	CodeNotFound     NotFound             404   (CodeUnknownTask)
//	CodeTooLarge     ResourceExhausted    413   CodeTooLarge
//	CodeTooMany      ResourceExhausted    429   (CodeTooLarge)
//	CodeDeadline     DeadlineExceeded     504   CodeDeadline (also Canceled by the caller)
//	CodeUnavailable  Unavailable          503   CodeUnavailable
//	CodeDepth        FailedPrecondition   400   (CodeFailed)
//	CodeFailed       Aborted              409   CodeFailed (also FailedPrecondition, Unknown)
//	CodeBadArgument  InvalidArgument      400   CodeBadArgument (also OutOfRange)
//	CodeInternal     Internal             500   CodeInternal (and every other code)
//
// CodeFailed, a task that returned an error status or trapped, maps to
// Aborted: the invocation ran and was aborted by the task's own code. It
// keeps task failures apart from Unknown (what gRPC reports for errors that
// are not statuses) and Internal (faults of the host), so dashboards tell
// the application's failures from the platform's, and no generic gRPC
// client retries it on its own (Aborted asks for a retry "at a higher
// level", which is the application's decision).
//
// Errors gRPC raises itself are mapped by the last column: a message over
// the size limit is CodeTooLarge, a dead host CodeUnavailable ("host
// <addr> for group <g> unavailable: …"), a call canceled by Transport.Close
// CodeUnavailable too.
//
// # Retries
//
// Only calls that provably never reached the callee are retried: those
// that failed with Unavailable before gRPC opened a stream for them on a
// connection (connection refused, dial or handshake failure, no connection
// ready), which the Transport learns from the call's peer being unset. A
// call is retried at most twice (Options.MaxRetries), after 10 ms and then
// 40 ms (Options.RetryBackoff, ×4 per retry) plus up to 25% jitter; before
// each retry the Transport asks gRPC to reconnect at once and retries as
// soon as the connection is ready. It never waits past the caller's
// deadline: a retry that would is not made. Async calls are retried by the
// same rule, since accepting one twice would run it twice. Nothing else is
// retried — not a call that reached the remote host and failed there
// (Unavailable from a draining host included), not a call whose connection
// broke while it ran, not a deadline. (gRPC itself transparently retries
// once a stream the server refused without processing it.)
package grpctransport
