package lambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestInvokeReturnsHandlerResultWithReportInTail(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "echo")
	out := f.invoke(t, "echo", map[string]any{"op": "echo", "value": "hi"})
	if out.StatusCode != 200 || out.FunctionError != nil {
		t.Fatalf("status %d, function error %v", out.StatusCode, aws.ToString(out.FunctionError))
	}
	if got := decode[map[string]any](t, out.Payload); got["value"] != "hi" {
		t.Errorf("payload %s", out.Payload)
	}
	if v := aws.ToString(out.ExecutedVersion); v != "$LATEST" {
		t.Errorf("executed version %q", v)
	}
	tail, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	t.Logf("tail:\n%s", tail)
	for _, want := range []string{"START RequestId: ", "END RequestId: ", "REPORT RequestId: ", "\tDuration: ", "\tBilled Duration: ", "\tMemory Size: 1769 MB", "\tMax Memory Used: ", "\tInit Duration: "} {
		if !strings.Contains(string(tail), want) {
			t.Errorf("tail lacks %q", want)
		}
	}
	reports := f.em.Reports("echo")
	if len(reports) != 1 || !reports[0].Cold || reports[0].Duration <= 0 || reports[0].BilledDuration < reports[0].Duration+reports[0].InitDuration {
		t.Fatalf("reports %+v", reports)
	}
	second := f.invoke(t, "echo", map[string]any{"op": "echo"})
	tail, _ = base64.StdEncoding.DecodeString(aws.ToString(second.LogResult))
	if strings.Contains(string(tail), "Init Duration") {
		t.Errorf("a warm invocation's REPORT has an Init Duration:\n%s", tail)
	}
}

func TestEnvironmentGetsLambdaVariables(t *testing.T) {
	f := newFixture(t, Options{Region: "eu-west-1"})
	f.create(t, "vars", withMemory(256), withEnv(map[string]string{"GREETING": "hello"}))
	got := decode[map[string]string](t, f.invoke(t, "vars", map[string]any{"op": "env"}).Payload)
	for k, want := range map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "vars", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "eu-west-1", "_HANDLER": "bootstrap",
		"GREETING": "hello", "arn": "arn:aws:lambda:eu-west-1:123456789012:function:vars",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if !strings.HasPrefix(got["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") || got["LAMBDA_TASK_ROOT"] == "" || got["requestId"] == "" {
		t.Errorf("runtime API %q, task root %q, request id %q", got["AWS_LAMBDA_RUNTIME_API"], got["LAMBDA_TASK_ROOT"], got["requestId"])
	}
}

func TestHandlerErrorIsUnhandledFunctionError(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "fails")
	out := f.invoke(t, "fails", map[string]any{"op": "error", "value": "x"})
	if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" {
		t.Fatalf("status %d, function error %q", out.StatusCode, aws.ToString(out.FunctionError))
	}
	e := decode[map[string]any](t, out.Payload)
	if e["errorMessage"] != "boom: x" || e["errorType"] != "errorString" {
		t.Errorf("payload %s", out.Payload)
	}
	// The environment survives a handled error.
	f.invoke(t, "fails", map[string]any{"op": "echo"})
	if alive, _ := f.em.Environments("fails"); alive != 1 {
		t.Errorf("%d environments after an error and a success, want 1", alive)
	}
	if r := f.em.Reports("fails"); r[0].Status != "error" || r[0].ErrorType != "errorString" || r[1].Status != "success" {
		t.Errorf("reports %+v", r)
	}
}

func TestPanicIsUnhandledAndEnvironmentIsDiscarded(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "panics")
	first := decode[map[string]string](t, f.invoke(t, "panics", map[string]any{"op": "env"}).Payload)
	out := f.invoke(t, "panics", map[string]any{"op": "panic", "value": "p"})
	if aws.ToString(out.FunctionError) != "Unhandled" {
		t.Fatalf("function error %q", aws.ToString(out.FunctionError))
	}
	if e := decode[map[string]any](t, out.Payload); e["errorMessage"] != "kaboom: p" {
		t.Errorf("payload %s", out.Payload)
	}
	tail, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if !strings.Contains(string(tail), "Runtime.ExitError") {
		t.Errorf("tail lacks the runtime's exit:\n%s", tail)
	}
	after := decode[map[string]string](t, f.invoke(t, "panics", map[string]any{"op": "env"}).Payload)
	if after["pid"] == first["pid"] {
		t.Errorf("the environment that panicked (pid %s) served again", first["pid"])
	}
}

func TestCrashMidRequestIsRuntimeExitError(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "crashes")
	out := f.invoke(t, "crashes", map[string]any{"op": "exit", "n": 7})
	e := decode[map[string]string](t, out.Payload)
	if aws.ToString(out.FunctionError) != "Unhandled" || e["errorType"] != "Runtime.ExitError" || !strings.HasSuffix(e["errorMessage"], "Runtime exited with error: exit status 7") {
		t.Fatalf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
	if r := f.em.Reports("crashes"); len(r) != 1 || r[0].ErrorType != "Runtime.ExitError" {
		t.Errorf("reports %+v", r)
	}
}

func TestErrorPostCutShortIsNotTheInvocationsError(t *testing.T) {
	// A runtime killed while posting its error (a timeout kills it so)
	// leaves half a body: the invocation ends as the process's end says.
	f := newFixture(t, Options{})
	f.create(t, "cut")
	out := f.invoke(t, "cut", map[string]any{"op": "cut"})
	e := decode[map[string]string](t, out.Payload)
	if aws.ToString(out.FunctionError) != "Unhandled" || e["errorType"] != "Runtime.ExitError" || !strings.HasSuffix(e["errorMessage"], "exit status 1") {
		t.Fatalf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
}

func TestInvokeTraceHeaderReachesTheRuntimeAndTheReport(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "traced")
	const header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	payload, _ := json.Marshal(map[string]any{"op": "env"})
	began := time.Now()
	out, err := f.client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("traced"), Payload: payload, LogType: types.LogTypeTail},
		func(o *awslambda.Options) {
			o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue("X-Amzn-Trace-Id", header))
		})
	wall := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode[map[string]string](t, out.Payload)["_X_AMZN_TRACE_ID"]; got != header {
		t.Errorf("the runtime saw trace header %q, want the caller's %q", got, header)
	}
	f.invoke(t, "traced", map[string]any{"op": "echo"}) // no header
	r := f.em.Reports("traced")
	if len(r) != 2 || r[0].TraceID != "5759e988bd862e3fe1be46a994272793" || r[1].TraceID != "" {
		t.Fatalf("reports %+v: want the first traced, the second not", r)
	}
	// The stretch is the part of the wall time the client waited that the
	// emulated durations leave out: never more than that wall time less the
	// emulated init.
	if r[0].Stretch < 0 || r[0].Stretch > wall-r[0].InitDuration {
		t.Errorf("stretch %v of an answer the client waited %v for (init %v, duration %v)", r[0].Stretch, wall, r[0].InitDuration, r[0].Duration)
	}
	if r[0].WallDuration < r[0].Duration {
		t.Errorf("wall duration %v shorter than the emulated %v", r[0].WallDuration, r[0].Duration)
	}
}

func TestMemoryLimitKillsEnvironmentAsOutOfMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: at 128 MB (0.07 vCPU) the kernel's reclaim before the kill takes seconds")
	}
	f := newFixture(t, Options{})
	f.create(t, "hungry", withMemory(128), withTimeout(30))
	out := f.invoke(t, "hungry", map[string]any{"op": "alloc", "n": 160})
	e := decode[map[string]string](t, out.Payload)
	if aws.ToString(out.FunctionError) != "Unhandled" || e["errorType"] != "Runtime.OutOfMemory" || !strings.Contains(e["errorMessage"], "signal: killed") {
		t.Fatalf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
	r := f.em.Reports("hungry")
	if len(r) != 1 || r[0].MaxMemoryUsed != 128 {
		t.Errorf("reports %+v", r)
	}
	t.Logf("%s", r[0].Line)
}

func TestTimeoutKillsEnvironmentAndWritesReport(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "slow", withTimeout(1))
	out := f.invoke(t, "slow", map[string]any{"op": "sleep", "n": 5000})
	e := decode[map[string]string](t, out.Payload)
	if aws.ToString(out.FunctionError) != "Unhandled" || e["errorType"] != "Sandbox.Timedout" || !strings.HasSuffix(e["errorMessage"], "Task timed out after 1.00 seconds") {
		t.Fatalf("function error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
	tail, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if !strings.Contains(string(tail), "Task timed out after 1.00 seconds") || !strings.Contains(string(tail), "Duration: 1000.00 ms") || !strings.Contains(string(tail), "Status: timeout") {
		t.Errorf("tail:\n%s", tail)
	}
	if alive, _ := f.em.Environments("slow"); alive != 0 {
		t.Errorf("%d environments alive after the timeout", alive)
	}
}

func TestPayloadLimits(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "limits")
	big := []byte(`"` + strings.Repeat("x", maxSyncRequest) + `"`)
	_, err := f.client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("limits"), Payload: big})
	if code := errorCode(err); code != "RequestTooLargeException" {
		t.Errorf("6 MB sync request: %v", err)
	}
	event := []byte(`"` + strings.Repeat("x", maxAsyncRequest) + `"`)
	_, err = f.client.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("limits"), Payload: event, InvocationType: "Event"})
	if code := errorCode(err); code != "RequestTooLargeException" {
		t.Errorf("1 MB event: %v", err)
	}
	out := f.invoke(t, "limits", map[string]any{"op": "big", "n": maxResponse + 10})
	if e := decode[map[string]string](t, out.Payload); aws.ToString(out.FunctionError) != "Unhandled" || e["errorType"] != "Function.ResponseSizeTooLarge" {
		t.Errorf("oversized response: function error %q, payload %.200s", aws.ToString(out.FunctionError), out.Payload)
	}
}
