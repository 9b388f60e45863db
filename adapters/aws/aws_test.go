package aws_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/adaptertest"
	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
	"github.com/fusionize/fusionize/emulators/lambda/lambdatest"
	"github.com/fusionize/fusionize/host"
	lambdatransport "github.com/fusionize/fusionize/host/transport/lambda"
)

// packager is shared by the tests: the bootstrap is built once per run.
var (
	packagerOnce sync.Once
	packager     *aws.Packager
)

func sharedPackager(t *testing.T) *aws.Packager {
	packagerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fusionize-aws-test-")
		if err != nil {
			t.Fatal(err)
		}
		packager = aws.NewPackager(dir, slog.New(slog.DiscardHandler))
	})
	return packager
}

// emulator starts a Lambda emulator on loopback for the test.
func emulator(t *testing.T, opts lambdaemu.Options) (*lambdaemu.Emulator, string) {
	t.Helper()
	return lambdatest.Start(t, opts)
}

// newAdapter returns an adapter for the emulator at endpoint whose
// functions time out after timeout seconds (default 10).
func newAdapter(t *testing.T, endpoint string, timeout ...int) *aws.Adapter {
	t.Helper()
	secs := 10
	if len(timeout) > 0 {
		secs = timeout[0]
	}
	a, err := aws.New(context.Background(), aws.Options{Endpoint: endpoint, Packager: sharedPackager(t), Timeout: secs, Drain: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(context.Background()); err != nil && !errors.Is(err, adapters.ErrClosed) {
			t.Errorf("adapter close: %v", err)
		}
	})
	return a
}

func awsGroups() []setup.Group {
	aws := setup.Place{Provider: "aws", Region: "us-east-1"}
	return []setup.Group{
		{Name: adaptertest.GroupCaller, Tasks: []string{"caller"}, Place: aws},
		{Name: adaptertest.GroupEcho, Tasks: []string{"echo"}, Place: aws},
	}
}

func TestDeployInvokeRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Lambda bootstrap and starts execution environments")
	}
	em, url := emulator(t, lambdaemu.Options{Logger: slog.New(slog.DiscardHandler)})
	env := adaptertest.NewEnv(t)
	su := env.Apply(t, awsGroups()...)
	a := newAdapter(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := env.Deployment(t, su, adaptertest.GroupEcho)
	ep, err := a.Deploy(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if ep.Provider != "aws" || ep.Group != adaptertest.GroupEcho {
		t.Fatalf("endpoint %+v", ep)
	}
	if _, err := a.Deploy(ctx, d); !errors.Is(err, adapters.ErrExists) {
		t.Fatalf("second deploy: %v, want ErrExists", err)
	}
	tr := lambdatransport.New(lambdatransport.Options{Region: "us-east-1", Endpoint: url})
	fn := ep.Endpoint
	if fn.FunctionName != aws.FunctionName(env.App, adaptertest.GroupEcho) || fn.Qualifier != aws.AliasName(su.Version) {
		t.Fatalf("endpoint %s, want function %s alias %s", fn, aws.FunctionName(env.App, adaptertest.GroupEcho), aws.AliasName(su.Version))
	}
	in := bytes.Repeat([]byte("fusionize "), 100)
	out, err := tr.Call(ctx, fn, host.Call{Task: "echo", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("echo answered %q", out)
	}
	_, err = tr.Call(ctx, fn, host.Call{Task: "nope"})
	if host.CodeOf(err) != host.CodeUnknownTask || !strings.Contains(err.Error(), fn.FunctionName) {
		t.Fatalf("unknown task: %v (code %d), want CodeUnknownTask naming the function", err, host.CodeOf(err))
	}
	if n := waitReports(t, em, fn.FunctionName, 3); n != 3 { // ping, echo, nope
		t.Fatalf("%d REPORT records, want one per invocation", n)
	}
	eps, err := a.List(ctx)
	if err != nil || len(eps) != 1 {
		t.Fatalf("List = %v, %v; want the one endpoint", eps, err)
	}
	if err := a.Remove(ctx, adaptertest.GroupEcho, su.Version); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(ctx, adaptertest.GroupEcho, su.Version); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("second remove: %v, want ErrNotFound", err)
	}
	if _, err := tr.Call(ctx, fn, host.Call{Task: "echo"}); host.CodeOf(err) != host.CodeUnavailable || !strings.Contains(err.Error(), fn.FunctionName) {
		t.Fatalf("call after remove: %v, want CodeUnavailable naming the function", err)
	}
}

func TestCallerCallsEchoThroughLambda(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Lambda bootstrap and starts execution environments")
	}
	em, url := emulator(t, lambdaemu.Options{Logger: slog.New(slog.DiscardHandler)})
	env := adaptertest.NewEnv(t)
	su := env.Apply(t, awsGroups()...)
	a := newAdapter(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var caller api.Endpoint
	for _, g := range []string{adaptertest.GroupEcho, adaptertest.GroupCaller} {
		ep, err := a.Deploy(ctx, env.Deployment(t, su, g))
		if err != nil {
			t.Fatal(err)
		}
		caller = ep.Endpoint
	}
	tr := lambdatransport.New(lambdatransport.Options{})
	out, err := tr.Call(ctx, caller, host.Call{Task: "caller", Input: []byte("across functions")})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "across functions" {
		t.Fatalf("caller answered %q", out)
	}
	// The deploy's ping and the call; a REPORT is written once the
	// runtime asks for its next event, just after it answered.
	echo := aws.FunctionName(env.App, adaptertest.GroupEcho)
	if n := waitReports(t, em, echo, 2); n != 2 {
		t.Fatalf("%s ran %d times, want 2", echo, n)
	}
}

// waitReports waits up to 10 s for function to have n REPORT records and
// returns how many it has.
func waitReports(t *testing.T, em *lambdaemu.Emulator, function string, n int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(em.Reports(function)) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return len(em.Reports(function))
}

// TestConformance runs the adapters' conformance suite against the Lambda
// emulator.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Lambda bootstrap and starts execution environments")
	}
	em, url := emulator(t, lambdaemu.Options{Logger: slog.New(slog.DiscardHandler)})
	env := adaptertest.NewEnvAt(t, setup.Place{Provider: "aws", Region: "us-east-1"})
	env.DeployTimeout = 2 * time.Minute
	env.Leftovers = func() []string { return leftovers(t, url) }
	_ = em
	adaptertest.Run(t, func(t *testing.T) adapters.Adapter { return newAdapter(t, url) }, env)
}

// leftovers lists the functions still deployed on the emulator.
func leftovers(t *testing.T, url string) []string {
	t.Helper()
	c := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: sdkaws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	out, err := c.ListFunctions(context.Background(), &lambda.ListFunctionsInput{})
	if err != nil {
		t.Errorf("list functions: %v", err)
		return nil
	}
	var names []string
	for _, f := range out.Functions {
		names = append(names, sdkaws.ToString(f.FunctionName))
	}
	return names
}
