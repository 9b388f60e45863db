// Package controlplane is the fuser's control plane: the gRPC service
// fusionize.v1.ControlPlaneService over a durable store.Store, the app's
// stable entry point (fusionize.v1.HostService, forwarding), with its REST
// mapping (grpc-gateway), the standard gRPC health service, server
// reflection, Prometheus metrics, and a client.Client for hosts and the CLI.
//
// It holds task modules (content-addressed, verified on upload and on
// fetch), the versioned fusion setup (hosts watch it), the spans hosts
// report, the registry of live hosts (hosts leave it with DeregisterHost as
// they stop), the optimizer's history, and the durable key-value store of
// each application's tasks (GetValue, PutValue: the store behind the guest
// ABI's kv_get and kv_put on every host).
//
// Serving:
//
//	cp, err := server.New(server.Options{DataDir: "/var/lib/fusionize", App: "webshop"})
//	if err != nil { ... }
//	fmt.Println("gRPC", cp.Addr(), "REST", cp.HTTPAddr(), "token in", server.TokenPath(dir))
//	err = cp.Serve(ctx) // until ctx ends; then a graceful stop and the store closed
//
// Every call needs the token the control plane created in its data
// directory on first start, as "authorization: Bearer <token>":
//
//	c, err := client.Dial(ctx, "127.0.0.1:7070", token)
//	defer c.Close()
//	info, err := c.UploadModuleFile(ctx, "checkout", "build/checkout.wasm")
//	v, err := c.ApplySetup(ctx, setup.Separate(0, tasks, setup.Place{Provider: "local"}, 128))
//	setups, errc := c.WatchSetup(ctx, 0)
//	accepted, rejected, err := c.ReportSpans(ctx, "host-1", spans)
//	err = c.PutValue(ctx, "iot", "events/s-1/t", event) // committed on return
//	val, ok, err := c.GetValue(ctx, "iot", "events/s-1/t")
//
// From a shell (the same token; REST on the HTTP port):
//
//	grpcurl -plaintext 127.0.0.1:7070 list
//	grpcurl -plaintext -H "authorization: Bearer $(cat $DIR/token)" 127.0.0.1:7070 fusionize.v1.ControlPlaneService/Status
//	curl -H "Authorization: Bearer $(cat $DIR/token)" http://127.0.0.1:7071/v1/status
//	curl -H "Authorization: Bearer $(cat $DIR/token)" http://127.0.0.1:7071/v1/apps/iot/kv/events/s-1/t
//
// Every uploaded module must load on a host (host.CheckModule, the host's
// own checks; host.CheckFusedModule for a fused module, whose header lists
// the tasks it must hold and which is stored as api.FusedModuleName of
// them) or it is refused; ApplySetup and RecordIteration refuse bad
// input with one message naming every culprit, and a refused call changes
// nothing.
//
// Errors become gRPC codes only at the service edge: store.ErrNotFound →
// NotFound; store.ErrDigestMismatch, store.ErrBadDigest, setup validation
// errors, api.ErrBadIteration, ErrBadModule, store.ErrBadKey and
// ErrBadRequest → InvalidArgument; store.ErrTooLarge →
// ResourceExhausted; store.ErrClosed, ErrShuttingDown → Unavailable; the
// rest → Internal. Over REST the gateway maps those codes to HTTP statuses
// (Unauthenticated → 401, NotFound → 404, InvalidArgument → 400, …).
//
// The control plane also creates the app's invoke token
// (<data-dir>/invoke-token, mode 0600; ControlPlane.InvokeToken), which
// the deployer hands to hosts at start and hosts require on
// HostService.Invoke.
//
// # The app's entry point
//
// The control plane serves fusionize.v1.HostService too, on the same
// addresses (Entry): one address per app that always reaches the active
// setup version, whatever ports its hosts have after a deploy. Invoke (gRPC)
// and POST /v1/invoke/{task} (REST) take the invoke token, never the
// control-plane token, and forward each request to the group of the active
// version that holds the task, through host/transport (gRPC, the Lambda
// Invoke API, HTTPS) with the routes the deployer recorded
// (host/transport/route); the response headers fusionize-setup-version and
// fusionize-group (REST: Fusionize-Setup-Version, Fusionize-Group) say who
// answered. The invoke token opens nothing else here.
//
//	grpcurl -plaintext -H "authorization: Bearer $(cat $DIR/invoke-token)" -d '{"task":"I","input":"e30="}' 127.0.0.1:7070 fusionize.v1.HostService/Invoke
//	curl -H "Authorization: Bearer $(cat $DIR/invoke-token)" -d '{"input":"e30="}' http://127.0.0.1:7071/v1/invoke/I
//
// # Why are reflection and health open, and nothing else?
//
// Server reflection reveals only the schema, which is public anyway (the
// .proto files and the OpenAPI spec ship with the project). Leaving it
// open lets grpcurl list and describe the API before the user has found
// the token, and the Unauthenticated error of the first real call then says
// where the token is. The standard health service says only SERVING or
// NOT_SERVING; probes (Kubernetes, grpc_health_probe) carry no secrets. All
// of fusionize.v1.ControlPlaneService, which reads or changes state,
// requires the token (and the entry point's Invoke the invoke token). /healthz and /metrics on the HTTP port are open for
// the same reason as health: they carry counts, never data.
//
// # Why one token in a file?
//
// The control plane is one process per application, usually on the
// developer's machine or next to the fuser. A random 256-bit token created
// on first start, kept mode 0600 in the data directory, needs no setup,
// survives restarts, and whoever can read the data directory already owns
// everything the token protects. Plaintext is allowed only to loopback
// addresses by Dial; anything reachable from elsewhere should run with TLS
// (Options.TLSCertFile, Options.TLSKeyFile).
//
// # Why does the REST gateway dial an in-memory gRPC server?
//
// The gateway translates HTTP into gRPC calls. Calling the Server directly
// (RegisterControlPlaneServiceHandlerServer) would skip the interceptors,
// so skip authentication; dialing the public port would need a TLS client
// configuration that trusts the server's certificate. A second gRPC server
// on an in-memory listener, plaintext, with the same interceptors and the
// same Server, has neither problem and no network hop.
package server
