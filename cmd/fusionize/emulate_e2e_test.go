package main

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestEmulateAWSServesTheSDK runs `fusionize emulate aws` as a user would
// and lists its functions with the real SDK client; SIGTERM stops it.
func TestEmulateAWSServesTheSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the fusionize command")
	}
	buildBinary(t)
	addr := freePort(t)
	cmd := exec.Command(binary, "--data-dir", t.TempDir(), "emulate", "aws", "--listen", addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "emulated AWS Lambda") || !strings.Contains(line, addr) {
		t.Fatalf("first line %q, %v; want the emulator's address, labelled emulated", line, err)
	}
	c := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), RetryMaxAttempts: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fns, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil || len(fns.Functions) != 0 {
		t.Fatalf("ListFunctions = %v, %v; want none", fns, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("emulate aws after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("emulate aws still running 30 s after SIGTERM")
	}
}
