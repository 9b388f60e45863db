package lambda

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func TestDeployerFlowWithWaitersFinishesAtOnce(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	var gets atomic.Int64
	f.client = awslambda.New(f.client.Options(), func(o *awslambda.Options) {
		o.HTTPClient = countingClient{&gets}
	})
	// Each waiter must finish on its first poll: one GET per Wait.
	waited := func(what string, before int64) {
		t.Helper()
		if n := gets.Load() - before; n != 1 {
			t.Errorf("%s: the waiter made %d requests, want 1 (a Pending answer costs a poll)", what, n)
		}
	}
	created := f.create(t, "deploy", withMemory(512), withEnv(map[string]string{"A": "1"}))
	if created.State != types.StateActive || created.LastUpdateStatus != types.LastUpdateStatusSuccessful || aws.ToInt32(created.MemorySize) != 512 {
		t.Fatalf("created %+v", created)
	}
	n := gets.Load()
	if err := awslambda.NewFunctionActiveV2Waiter(f.client).Wait(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("deploy")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	waited("FunctionActiveV2", n)
	upd, err := f.client.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("deploy"), MemorySize: aws.Int32(1024), Timeout: aws.Int32(10),
	})
	if err != nil || aws.ToInt32(upd.MemorySize) != 1024 || aws.ToInt32(upd.Timeout) != 10 {
		t.Fatalf("update configuration: %+v %v", upd, err)
	}
	n = gets.Load()
	if err := awslambda.NewFunctionUpdatedV2Waiter(f.client).Wait(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("deploy")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	waited("FunctionUpdatedV2", n)
	code, err := f.client.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: aws.String("deploy"), ZipFile: testZip(t)})
	if err != nil || aws.ToString(code.CodeSha256) != aws.ToString(created.CodeSha256) {
		t.Fatalf("update code: %v (sha %s vs %s)", err, aws.ToString(code.CodeSha256), aws.ToString(created.CodeSha256))
	}
	v1, err := f.client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("deploy")})
	if err != nil || aws.ToString(v1.Version) != "1" {
		t.Fatalf("publish: %+v %v", v1, err)
	}
	n = gets.Load()
	if err := awslambda.NewPublishedVersionActiveWaiter(f.client).Wait(ctx, &awslambda.GetFunctionConfigurationInput{FunctionName: aws.String("deploy"), Qualifier: aws.String("1")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	waited("PublishedVersionActive", n)
	// Publishing an unchanged $LATEST returns the same version.
	again, _ := f.client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("deploy")})
	if aws.ToString(again.Version) != "1" {
		t.Errorf("republishing unchanged code made version %s", aws.ToString(again.Version))
	}
	if _, err := f.client.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("deploy"), MemorySize: aws.Int32(2048)}); err != nil {
		t.Fatal(err)
	}
	v2, _ := f.client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("deploy")})
	if aws.ToString(v2.Version) != "2" || aws.ToInt32(v2.MemorySize) != 2048 {
		t.Fatalf("version 2: %+v", v2)
	}
	got1, err := f.client.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("deploy:1")})
	if err != nil || aws.ToInt32(got1.Configuration.MemorySize) != 1024 || got1.Configuration.Environment.Variables["A"] != "1" {
		t.Fatalf("version 1 is not the snapshot it was: %+v %v", got1, err)
	}
	if got1.Tags == nil {
		t.Error("GetFunction has no Tags")
	}
	list, err := f.client.ListFunctions(ctx, &awslambda.ListFunctionsInput{})
	if err != nil || len(list.Functions) != 1 || aws.ToString(list.Functions[0].FunctionName) != "deploy" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := f.client.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String("deploy")}); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("deploy")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("get after delete: %v", err)
	}
}

func TestErrorsAreTheSDKsTypes(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	f.create(t, "dup")
	_, err := f.client.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String("dup"), Role: aws.String("r"),
		Runtime: types.RuntimeProvidedal2023, Code: &types.FunctionCode{ZipFile: testZip(t)}})
	var rc *types.ResourceConflictException
	if !errors.As(err, &rc) {
		t.Errorf("duplicate create: %v", err)
	}
	_, err = f.client.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String("small"), Role: aws.String("r"),
		Runtime: types.RuntimeProvidedal2023, MemorySize: aws.Int32(64), Code: &types.FunctionCode{ZipFile: testZip(t)}})
	var iv *types.InvalidParameterValueException
	if !errors.As(err, &iv) {
		t.Errorf("64 MB: %v", err)
	}
	_, err = f.client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("invoke missing: %v", err)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusNotFound {
		t.Errorf("status of a missing function: %v", err)
	}
	var rid interface{ ServiceRequestID() string }
	if !errors.As(err, &rid) || rid.ServiceRequestID() == "" {
		t.Errorf("no request id in %v", err)
	}
}

func TestQualifierFormsNameTheSameVersion(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	f.create(t, "q")
	f.client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("q")})
	arn := "arn:aws:lambda:us-east-1:123456789012:function:q"
	for _, c := range []struct {
		name, qualifier, want string
	}{
		{"q", "", "$LATEST"}, {"q:1", "", "1"}, {"q", "1", "1"}, {arn, "", "$LATEST"}, {arn + ":1", "", "1"},
		{"123456789012:function:q:1", "", "1"}, {arn, "$LATEST", "$LATEST"},
	} {
		in := &awslambda.InvokeInput{FunctionName: aws.String(c.name), Payload: []byte(`{"op":"echo"}`)}
		if c.qualifier != "" {
			in.Qualifier = aws.String(c.qualifier)
		}
		out, err := f.client.Invoke(ctx, in)
		if err != nil || aws.ToString(out.ExecutedVersion) != c.want {
			t.Errorf("invoke %s qualifier %q: version %v, err %v; want %s", c.name, c.qualifier, out, err, c.want)
		}
	}
	_, err := f.client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("q:1"), Qualifier: aws.String("2")})
	var iv *types.InvalidParameterValueException
	if !errors.As(err, &iv) {
		t.Errorf("conflicting qualifiers: %v", err)
	}
}

func TestAliasRoutesByWeightBetweenTwoVersions(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	f.create(t, "al")
	f.client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("al")})
	f.client.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("al"), Description: aws.String("v2")})
	f.client.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("al")})
	a, err := f.client.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: aws.String("al"), Name: aws.String("live"),
		FunctionVersion: aws.String("1"), RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.5}}})
	if err != nil || aws.ToString(a.AliasArn) != "arn:aws:lambda:us-east-1:123456789012:function:al:live" {
		t.Fatalf("create alias: %+v %v", a, err)
	}
	seen := map[string]int{}
	for i := 0; i < 40; i++ {
		out := f.invoke(t, "al:live", map[string]any{"op": "echo"})
		seen[aws.ToString(out.ExecutedVersion)]++
	}
	if seen["1"] == 0 || seen["2"] == 0 {
		t.Errorf("a 50/50 alias ran versions %v", seen)
	}
	_, err = f.client.UpdateAlias(ctx, &awslambda.UpdateAliasInput{FunctionName: aws.String("al"), Name: aws.String("live"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.5, "$LATEST": 0.1}}})
	var iv *types.InvalidParameterValueException
	if !errors.As(err, &iv) {
		t.Errorf("three versions on an alias: %v", err)
	}
	if _, err := f.client.UpdateAlias(ctx, &awslambda.UpdateAliasInput{FunctionName: aws.String("al"), Name: aws.String("live"),
		FunctionVersion: aws.String("2"), RoutingConfig: &types.AliasRoutingConfiguration{}}); err != nil {
		t.Fatal(err)
	}
	got, err := f.client.GetAlias(ctx, &awslambda.GetAliasInput{FunctionName: aws.String("al"), Name: aws.String("live")})
	if err != nil || aws.ToString(got.FunctionVersion) != "2" {
		t.Fatalf("get alias: %+v %v", got, err)
	}
	if out := f.invoke(t, "al", map[string]any{"op": "echo"}, func(in *awslambda.InvokeInput) { in.Qualifier = aws.String("live") }); aws.ToString(out.ExecutedVersion) != "2" {
		t.Errorf("alias now on 2 ran %s", aws.ToString(out.ExecutedVersion))
	}
	if _, err := f.client.DeleteAlias(ctx, &awslambda.DeleteAliasInput{FunctionName: aws.String("al"), Name: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.GetAlias(ctx, &awslambda.GetAliasInput{FunctionName: aws.String("al"), Name: aws.String("live")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("get deleted alias: %v", err)
	}
}

func TestTagsAreKeptOnTheFunction(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	created := f.create(t, "tagged", func(in *awslambda.CreateFunctionInput) { in.Tags = map[string]string{"team": "a"} })
	if _, err := f.client.TagResource(ctx, &awslambda.TagResourceInput{Resource: created.FunctionArn, Tags: map[string]string{"env": "test"}}); err != nil {
		t.Fatal(err)
	}
	out, err := f.client.ListTags(ctx, &awslambda.ListTagsInput{Resource: created.FunctionArn})
	if err != nil || out.Tags["team"] != "a" || out.Tags["env"] != "test" {
		t.Fatalf("tags %v %v", out, err)
	}
}

func TestUpdatedCodeEndsOldEnvironments(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	f.create(t, "upd")
	a := pidOf(t, f, "upd")
	if _, err := f.client.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("upd"), Environment: &types.Environment{Variables: map[string]string{"GREETING": "new"}}}); err != nil {
		t.Fatal(err)
	}
	got := decode[map[string]string](t, f.invoke(t, "upd", map[string]any{"op": "env"}).Payload)
	if got["pid"] == a || got["GREETING"] != "new" {
		t.Errorf("after an update: process %s (was %s), GREETING %q", got["pid"], a, got["GREETING"])
	}
}

func TestInitFailureIsUnhandledExitError(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "badinit", withEnv(map[string]string{"BOOTSTRAP_INIT": "exit"}))
	out := f.invoke(t, "badinit", map[string]any{"op": "echo"})
	e := decode[map[string]string](t, out.Payload)
	if aws.ToString(out.FunctionError) != "Unhandled" || e["errorType"] != "Runtime.ExitError" {
		t.Fatalf("function error %q payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
}

func TestInitPastTenSecondsIsSandboxTimedout(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits out Lambda's 10 s init limit")
	}
	f := newFixture(t, Options{})
	f.create(t, "hanginit", withEnv(map[string]string{"BOOTSTRAP_INIT": "hang"}))
	out := f.invoke(t, "hanginit", map[string]any{"op": "echo"})
	e := decode[map[string]string](t, out.Payload)
	if aws.ToString(out.FunctionError) != "Unhandled" || e["errorType"] != "Sandbox.Timedout" || !strings.Contains(e["errorMessage"], "init phase timed out after 10.00 seconds") {
		t.Fatalf("function error %q payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
	if alive, _ := f.em.Environments("hanginit"); alive != 0 {
		t.Errorf("%d environments alive after the init timed out", alive)
	}
}

func TestMissingBootstrapIsInvalidEntrypoint(t *testing.T) {
	f := newFixture(t, Options{})
	_, err := f.client.CreateFunction(context.Background(), &awslambda.CreateFunctionInput{FunctionName: aws.String("nobootstrap"), Role: aws.String("r"),
		Runtime: types.RuntimeProvidedal2023, Code: &types.FunctionCode{ZipFile: zipOf(t, map[string][]byte{"main": []byte("x")})}})
	if err != nil {
		t.Fatal(err)
	}
	out := f.invoke(t, "nobootstrap", map[string]any{})
	if e := decode[map[string]string](t, out.Payload); e["errorType"] != "Runtime.InvalidEntrypoint" {
		t.Errorf("payload %s", out.Payload)
	}
}

func TestFunctionCreatedAgainAfterDeleteKeepsItsCode(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	f.create(t, "again")
	f.invoke(t, "again", map[string]any{"op": "echo"})
	if _, err := f.client.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String("again")}); err != nil {
		t.Fatal(err)
	}
	f.create(t, "again")
	time.Sleep(200 * time.Millisecond) // the deleted function's cleanup runs meanwhile
	out := f.invoke(t, "again", map[string]any{"op": "echo", "value": "v"})
	if out.FunctionError != nil {
		t.Fatalf("the recreated function failed: %s", out.Payload)
	}
}

// countingClient counts the GET requests an SDK client sends.
type countingClient struct{ gets *atomic.Int64 }

func (c countingClient) Do(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet {
		c.gets.Add(1)
	}
	return http.DefaultClient.Do(r)
}
