package lambda

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
)

// The conformance test and the RIE benchmark need the AWS Lambda Runtime Interface Emulator:
// scripts/install-rie.sh installs the pinned version into $(go env GOPATH)/bin.

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startRIE runs the test bootstrap under aws-lambda-rie and returns an SDK client for it
// (RIE serves Invoke of the function named "function").
func startRIE(t testing.TB) *awslambda.Client {
	t.Helper()
	rie, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		t.Skip("aws-lambda-rie is not on PATH: run scripts/install-rie.sh and add $(go env GOPATH)/bin to PATH")
	}
	addr, api := freePort(t), freePort(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, testBootstrap(t))
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_FUNCTION_NAME=function", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1769",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30", "LOG_LEVEL=error")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("aws-lambda-rie did not listen")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return awslambda.New(awslambda.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1, HTTPClient: &http.Client{Timeout: 30 * time.Second},
	})
}

// TestRuntimeAPIAgreesWithRIE runs the same aws-lambda-go bootstrap under the emulator's
// Runtime API and under the real Runtime Interface Emulator and compares the payloads.
// Status and X-Amz-Function-Error differ by design: RIE answers a function error without
// the header (a panic with 200 or 502), the emulator as Lambda does (200, Unhandled).
func TestRuntimeAPIAgreesWithRIE(t *testing.T) {
	rie := startRIE(t)
	f := newFixture(t, Options{})
	f.create(t, "function")
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		event string
	}{
		{"success", `{"op":"echo","value":"same"}`},
		{"handled error", `{"op":"error","value":"same"}`},
		{"panic", `{"op":"panic","value":"same"}`},
	} {
		in := func() *awslambda.InvokeInput {
			return &awslambda.InvokeInput{FunctionName: aws.String("function"), Payload: []byte(c.event)}
		}
		want, werr := rie.Invoke(ctx, in())
		got, gerr := f.client.Invoke(ctx, in())
		if gerr != nil {
			t.Errorf("%s: emulator: %v", c.name, gerr)
			continue
		}
		var wantPayload []byte
		if werr == nil {
			wantPayload = want.Payload
			t.Logf("%s: RIE status %d function error %q; emulator status %d function error %q", c.name, want.StatusCode, aws.ToString(want.FunctionError), got.StatusCode, aws.ToString(got.FunctionError))
		} else {
			t.Logf("%s: RIE answered with an error: %v; emulator status %d function error %q", c.name, werr, got.StatusCode, aws.ToString(got.FunctionError))
		}
		if c.name == "success" {
			if string(wantPayload) != string(got.Payload) {
				t.Errorf("success: RIE %s, emulator %s", wantPayload, got.Payload)
			}
			continue
		}
		if aws.ToString(got.FunctionError) != "Unhandled" {
			t.Errorf("%s: emulator function error %q, want Unhandled", c.name, aws.ToString(got.FunctionError))
		}
		type fnErr struct {
			ErrorType    string `json:"errorType"`
			ErrorMessage string `json:"errorMessage"`
		}
		var w, g fnErr
		if err := json.Unmarshal(wantPayload, &w); err != nil && werr == nil {
			t.Errorf("%s: RIE payload %q: %v", c.name, wantPayload, err)
		}
		_ = json.Unmarshal(got.Payload, &g)
		if werr == nil && w != g {
			t.Errorf("%s: RIE says %+v, emulator %+v", c.name, w, g)
		}
		if g.ErrorMessage != "boom: same" && g.ErrorMessage != "kaboom: same" {
			t.Errorf("%s: emulator payload %s", c.name, got.Payload)
		}
	}
}
