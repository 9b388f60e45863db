// Command testbootstrap is the test function of the Lambda emulator's tests: an aws-lambda-go
// custom runtime whose behaviour the event selects.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Event selects what the function does.
type Event struct {
	Op    string `json:"op"`
	N     int    `json:"n"`
	Value string `json:"value"`
}

var sink uint64

func spin(units int) {
	x := uint64(88172645463325252)
	for i := 0; i < units*1_000_000; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	sink += x
}

var hold [][]byte

func handle(ctx context.Context, ev Event) (any, error) {
	switch ev.Op {
	case "echo":
		return ev, nil
	case "error":
		return nil, errors.New("boom: " + ev.Value)
	case "panic":
		panic("kaboom: " + ev.Value)
	case "sleep":
		time.Sleep(time.Duration(ev.N) * time.Millisecond)
		return "slept", nil
	case "spin":
		spin(ev.N)
		return "spun", nil
	case "alloc":
		b := make([]byte, ev.N<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hold = append(hold, b)
		return fmt.Sprintf("holding %d MB", len(hold)*ev.N), nil
	case "exit":
		os.Exit(ev.N)
	case "cut":
		cutError(ctx)
	case "log":
		fmt.Println(ev.Value)
		return "logged", nil
	case "big":
		return strings.Repeat("x", ev.N), nil
	case "env":
		lc, _ := lambdacontext.FromContext(ctx)
		env := map[string]string{"pid": fmt.Sprint(os.Getpid()), "requestId": lc.AwsRequestID, "arn": lc.InvokedFunctionArn}
		for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
			"AWS_REGION", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_LAMBDA_RUNTIME_API", "GREETING", "_X_AMZN_TRACE_ID"} {
			env[k] = os.Getenv(k)
		}
		return env, nil
	}
	return nil, fmt.Errorf("unknown op %q", ev.Op)
}

// cutError starts posting an error to the Runtime API and exits before the
// body is all sent, as a runtime killed mid-post does.
func cutError(ctx context.Context) {
	lc, _ := lambdacontext.FromContext(ctx)
	c, err := net.Dial("tcp", os.Getenv("AWS_LAMBDA_RUNTIME_API"))
	if err != nil {
		os.Exit(2)
	}
	fmt.Fprintf(c, "POST /2018-06-01/runtime/invocation/%s/error HTTP/1.1\r\nHost: runtime\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"errorType\":", lc.AwsRequestID)
	time.Sleep(50 * time.Millisecond) // the emulator reads the headers and starts on the body
	os.Exit(1)
}

func main() {
	if os.Getenv("BOOTSTRAP_INIT") == "exit" {
		fmt.Println("init failing on purpose")
		os.Exit(3)
	}
	if os.Getenv("BOOTSTRAP_INIT") == "hang" {
		time.Sleep(time.Hour) // an init that never asks for its first event
	}
	lambda.Start(handle)
}
