// Package lambda is an emulated AWS Lambda service: the part of the Lambda API a deployer
// and an invoker use, served over HTTP to the real aws-sdk-go-v2 lambda client, with every
// execution environment a real process (emulators/sandbox) running the uploaded bootstrap
// under the function's CPU and memory limits.
//
// What it emulates, as a client or the optimizer can observe it:
//
//   - Functions from a zip with a bootstrap at its root (provided.al2023 / provided.al2),
//     versions (immutable snapshots of code and configuration), aliases with weighted
//     routing between two versions, tags, reserved concurrency; State Active and
//     LastUpdateStatus Successful at once, so the SDK's waiters finish without polling.
//   - Invoke: RequestResponse, Event (202; queued, retried twice on a function error, then
//     a dead letter) and DryRun; qualifiers as ?Qualifier=, name:qualifier or ARN; Tail
//     logs with the REPORT line; X-Amz-Function-Error and X-Amz-Executed-Version; payload
//     limits (6 MB sync, 1 MB Event, 6 MB response); errors as the SDK decodes them.
//   - One invocation per environment; concurrent invocations start more environments up to
//     the concurrency limit (429 TooManyRequestsException past it); idle environments are
//     reused most recently used first and reclaimed after a keep-alive.
//   - The environment's own Runtime API (one loopback listener per environment); a cold
//     start is the real process start and init, plus Options.SandboxDelay (emulated).
//   - CPU at memory/1769 of a vCPU and memory at the function's size; an environment over
//     its memory fails the invoke with Runtime.OutOfMemory, a crash with Runtime.ExitError,
//     a timeout with Sandbox.Timedout; the environment is discarded.
//   - A REPORT record per invocation (Duration, Billed Duration, Memory Size, Max Memory
//     Used, Init Duration) in the function's log, in [Emulator.Reports] and under
//     GET /emulator/v1/reports; durations are environment time, so they do not depend on
//     this machine's load. CostUSD is computed from list prices.
//   - Tracing: an Invoke's X-Amzn-Trace-Id reaches the runtime as Lambda-Runtime-Trace-Id
//     and the report as TraceID. Each sync report also carries Stretch, the time this
//     machine made the answer wait beyond the emulated durations (its CPUs were busy), an
//     emulator-only figure a client can take out of what it timed.
//   - The network between places: an invoke whose caller names its place
//     (api/rtt.CallerPlaceHeader, which Fusionize's Lambda and HTTPS transports send) waits
//     the round trip between that place and "aws/<Region>" before it is dispatched
//     (Options.RTT, package emulators/netem). The wait is emulated: it is in the report's
//     NetworkRTT, never in Duration or Billed Duration, as Lambda bills no network time.
//
// Routes of its own, under /emulator/v1/: GET reports?function=F, GET dead-letters,
// GET logs?function=F.
//
// Usage:
//
//	em, err := lambda.New(lambda.Options{KeepAlive: time.Minute})
//	if err != nil { ... }
//	defer em.Close(context.Background())
//	l, _ := net.Listen("tcp", "127.0.0.1:9001")
//	go em.Serve(ctx, l)
//
//	client := awslambda.New(awslambda.Options{
//		Region:       "us-east-1",
//		BaseEndpoint: aws.String("http://127.0.0.1:9001"),
//		Credentials:  credentials.NewStaticCredentialsProvider("x", "x", ""),
//	})
//	client.CreateFunction(ctx, &awslambda.CreateFunctionInput{...}) // Code.ZipFile: bootstrap
//	out, _ := client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("f")})
//	for _, r := range em.Reports("f") { fmt.Println(r.Line) }
//
// The AWS CLI works too: aws --endpoint-url http://127.0.0.1:9001 lambda list-functions
// (with any credentials, e.g. AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x).
package lambda
