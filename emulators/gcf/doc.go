// Package gcf emulates Google Cloud Functions (2nd gen, on Cloud Run) on one
// machine, for the real cloud.google.com/go/functions/apiv2 client and for
// plain HTTP callers of the deployed functions.
//
// It serves, on one gRPC server, google.cloud.functions.v2.FunctionService
// (GenerateUploadUrl, CreateFunction, UpdateFunction, DeleteFunction,
// GetFunction, ListFunctions) and google.longrunning.Operations (GetOperation,
// ListOperations, DeleteOperation), and on one HTTP server the upload URLs,
// the function URLs and the emulator's own endpoints under /emulator/v1/.
//
// As on Cloud Functions 2nd gen, a function is built from source: the
// uploaded zip is a Go module (go.mod at its root) whose root package
// registers the function with functions-framework-go (functions.HTTP in
// init). The build generates a main package in [MainDir] inside the module,
// which blank-imports the root package and calls funcframework.Start on
// $PORT, and runs `go build` with CGO_ENABLED=0, -mod=vendor when vendor/
// exists (-mod=mod with GOPROXY off otherwise) and a shared build cache.
//
// Each instance is its own process (package emulators/sandbox) with Cloud
// Run's CPU for its memory and the memory limit, listening on its own
// loopback port with PORT, K_SERVICE, K_REVISION, K_CONFIGURATION and
// FUNCTION_TARGET set, and a TMPDIR of its own (removed when it stops), as
// each Cloud Run instance has its own file system. The front routes each
// request as Cloud Run does, over kept-alive connections of its own to the
// instance (see
// RATIONALE.md) and reports what Cloud Run would bill for it, in response
// headers (X-Emulator-*) and in [Emulator.Requests]; every such figure is
// emulated: measured here in the instance's own time, not in Google's cloud.
//
// Cloud Functions has no async invoke: async calls to a function go through
// a Cloud Tasks queue, emulated by package emulators/tasks (at least once,
// exponential backoff, dead letters), which delivers them to the function's
// URL like any other caller.
//
// A request whose caller names its place (api/rtt.CallerPlaceHeader) waits
// the round trip between that place and the function's location before it
// is routed (Options.RTT, package emulators/netem); the wait is emulated,
// reported as Request.NetworkRTT and X-Emulator-Network-Rtt-Ms, and never
// billed.
//
// Each request report names the request's trace (traceparent, else
// X-Cloud-Trace-Context), as Cloud Run's request log does, and its Stretch:
// the time this machine made the answer wait beyond the emulated durations
// (its CPUs were busy), an emulator-only figure a client can take out of
// what it timed.
//
// Usage:
//
//	e, err := gcf.New(gcf.Options{Dir: dir})
//	if err != nil { ... }
//	defer e.Close(ctx)
//	if err := e.Start(ctx, "127.0.0.1:0", "127.0.0.1:0"); err != nil { ... }
//	client, err := functions.NewFunctionClient(ctx,
//		option.WithEndpoint(e.GRPCAddr()), option.WithoutAuthentication(),
//		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
//	// GenerateUploadUrl, PUT the zip (content-type application/zip),
//	// CreateFunction, poll the operation, then call fn.ServiceConfig.Uri.
//	for _, r := range e.Requests("my-function") {
//		fmt.Println(r.Duration, r.Billed, r.MaxMemoryMB, r.CostUSD) // emulated
//	}
package gcf
