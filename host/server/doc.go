// Package server gives a host its network face: HostService over gRPC
// (Invoke runs calls from clients and other hosts, Health describes the
// host), the REST gateway, the standard gRPC health service, reflection,
// /healthz and Prometheus /metrics. Errors become gRPC status codes here,
// at the service edge, with the exact host code in the fusionize-code
// trailer and an ErrorInfo detail (host/transport/grpc has the table), so
// a client branches on the code the host sent, never on message text.
//
//	hb, _ := host.New(ctx, host.Config{Name: "host-b", Group: "b"})
//	_ = hb.LoadFile(ctx, "echo", "echo.wasm", "")
//	srv, _ := server.New(hb, server.Options{InvokeToken: tok}) // the app's invoke token
//	lis, _ := net.Listen("tcp", "127.0.0.1:9001")
//	go srv.Serve(lis)
//	web, _ := srv.HTTPHandler(ctx, "127.0.0.1:9001", server.HTTPOptions{})
//	go http.ListenAndServe("127.0.0.1:8081", web) // /v1/invoke/{task}, /v1/health, /healthz, /metrics
//	defer srv.Shutdown(ctx)                      // drains, then stops; close hb after it
//
// Besides HostService the gRPC server answers the standard
// grpc.health.v1.Health service (SERVING for "" and for
// fusionize.v1.HostService; NOT_SERVING once the host drains, see
// Server.Drain, or the server shuts down; NOT_FOUND for other names), so
// grpc_health_probe and Kubernetes gRPC probes work, and server reflection
// with the proto comments (proto/descriptor), so grpcurl lists, describes
// and calls the API and decodes the google.rpc.ErrorInfo of a failed call:
//
//	grpc_health_probe -addr 127.0.0.1:9001 -service fusionize.v1.HostService
//	grpcurl -plaintext 127.0.0.1:9001 describe fusionize.v1.HostService
//
// With Options.InvokeToken set, Invoke (gRPC and REST) requires
// "authorization: Bearer <token>" from clients and other hosts alike and
// refuses anything else with Unauthenticated (REST 401), saying what is
// missing or wrong and never the token; health, reflection and
// HostService.Health stay open. A host process always sets it.
//
// Metrics (the Registry, served at /metrics): the host's Stats
// (Collector), fusionize_request_duration_seconds{task,code} for requests
// served, fusionize_remote_call_duration_seconds{transport,code} for calls
// sent to other groups (hand ObserveRemoteCall to the host's
// host/transport.Mux), and the Go and process collectors. Every host
// metric carries host, group and setup_version labels; the version is a
// label of its own, so a deploy changes a label value, not series names.
//
// A call with a caller came from another host and is recorded in the
// callee's span as remote; a call without one is a client request. The
// server prefers the W3C trace context in gRPC metadata (traceparent,
// tracestate; over REST the HTTP headers of those names) over the request's
// fields when both are set, ignores a malformed traceparent (the call starts
// a new trace), and answers with the trace id and the span id of the
// invocation.
package server
