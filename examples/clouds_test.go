package examples_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/emulators/gcf"
	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
	"github.com/fusionize/fusionize/emulators/lambda/lambdatest"
	"github.com/fusionize/fusionize/emulators/tasks"
	"github.com/fusionize/fusionize/fuser/deploy"
	"github.com/fusionize/fusionize/fuser/invoke"
)

// TestIoTAcrossCloudsMatchesFused deploys the IoT app with some groups on
// AWS Lambda and some on Cloud Functions (both emulated) through the
// deployer and the aws and gcp adapters: AWS groups call GCP groups over
// HTTPS (async ones through the Cloud Tasks queue) and GCP groups call AWS
// groups through the Lambda Invoke API. The result is the fused app's, and
// the spans show the documented call graph.
//
// Then the emulated network between the two places: the same request with
// a round trip of rttAcross between aws/us-east-1 and gcp/us-east4, and
// with none. A caller on AWS waiting on a callee on GCP (I->CW) and one on
// GCP waiting on a callee on AWS (CS->CSL) each wait at least the round
// trip, the emulators report it as emulated for the requests between
// places only, and only when the table says so.
func TestIoTAcrossCloudsMatchesFused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the IoT app, the Lambda bootstrap and Cloud Functions from source")
	}
	app := buildApp(t, "iot")
	want := fusedResult(t, app)
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	cp := controlPlane(t)
	cp.uploadModules(ctx, t, app)

	zero := rtt.Zero()
	lam, lambdaURL := lambdatest.Start(t, lambdaemu.Options{RTT: &zero})
	gcfDir := t.TempDir()
	emu, err := gcf.New(gcf.Options{Dir: gcfDir, RTT: &zero, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := emu.Close(cctx); err != nil {
			t.Errorf("gcf emulator: %v", err)
		}
	})
	queue := tasks.New(tasks.Options{RTT: &zero, Logger: quiet})
	if err := queue.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = queue.Close() })
	queueURL := queue.QueueURL("fusionize-local", "us-east4", "fusionize")

	awsAd, err := aws.New(ctx, aws.Options{Endpoint: lambdaURL, Timeout: 30, Drain: -1, Queue: queueURL, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	vendor, err := os.MkdirTemp("", "fusionize-vendor-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(vendor) })
	gcpAd, err := gcp.New(ctx, gcp.Options{Endpoint: emu.GRPCAddr(), Timeout: 30, Queue: queueURL, PollInterval: 20 * time.Millisecond,
		Packager: gcp.NewPackager(vendor, quiet), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		for _, a := range []adapters.Adapter{awsAd, gcpAd} {
			if err := a.Close(cctx); err != nil && !errors.Is(err, adapters.ErrClosed) {
				t.Errorf("close %s adapter: %v", a.Name(), err)
			}
		}
	})

	onAWS := setup.Place{Provider: "aws", Region: "us-east-1"}
	onGCP := setup.Place{Provider: "gcp", Region: "us-east4"}
	// Sync calls cross the clouds both ways: I->CW (AWS to GCP) and
	// CS->CSL (GCP to AWS).
	su := &setup.Setup{Groups: []setup.Group{
		{Name: "ingest", Tasks: []string{"I", "SE"}, MemoryMB: 512, Place: onAWS},
		{Name: "weather", Tasks: []string{"CW"}, MemoryMB: 512, Place: onGCP},
		{Name: "temp", Tasks: []string{"CT"}, MemoryMB: 512, Place: onGCP},
		{Name: "stats", Tasks: []string{"CS", "CSA"}, MemoryMB: 512, Place: onGCP},
		{Name: "sound", Tasks: []string{"CSL"}, MemoryMB: 512, Place: onAWS},
		{Name: "anomaly", Tasks: []string{"CA", "DJ"}, MemoryMB: 512, Place: onAWS},
		{Name: "alert", Tasks: []string{"AS"}, MemoryMB: 512, Place: onGCP},
	}}
	v, err := cp.client.ApplySetup(ctx, su)
	if err != nil {
		t.Fatal(err)
	}
	d := deploy.New(cp.store, adapters.Adapters{aws.Provider: awsAd, gcp.Provider: gcpAd}, deploy.Options{App: app.Name, ControlPlane: cp.addr, Token: cp.token, Logger: quiet})
	if err := d.Switch(ctx, v); err != nil {
		t.Fatal(err)
	}
	eps, err := cp.store.Endpoints(v)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, ep := range eps {
		kinds[ep.Kind]++
	}
	if kinds[api.KindLambda] != 3 || kinds[api.KindHTTPS] != 4 {
		t.Fatalf("endpoints %v: want three Lambda functions and four Cloud Functions", eps)
	}

	inv := invoke.New(cp.client)
	defer inv.Close()
	res, err := inv.Invoke(ctx, app.Entry, []byte(app.Input))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Output, want) {
		t.Fatalf("across clouds the app returned\n%s\nfused it returned\n%s", res.Output, want)
	}

	wantEdges := slices.Sorted(slices.Values(graphs["iot"]))
	var spans []span.Span
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if spans, err = cp.client.Spans(ctx, v, 0); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(observed(spans), wantEdges) {
			break
		}
	}
	if e := observed(spans); !slices.Equal(e, wantEdges) {
		t.Fatalf("call graph across clouds %v, want %v", e, wantEdges)
	}
	for _, s := range spans {
		// Every function's entry span carries the CPU time its process
		// used for the invocation (runtime.EntrySpans), on both clouds;
		// a span in memory carries none.
		if (s.Caller == "" || s.Remote) && s.CPU <= 0 {
			t.Errorf("entry span of %s (caller %q, group %s): no CPU time", s.Task, s.Caller, s.Group)
		}
		if !(s.Caller == "" || s.Remote) && s.CPU != 0 {
			t.Errorf("span of %s in memory (caller %s, group %s): CPU time %v, want none", s.Task, s.Caller, s.Group, s.CPU)
		}
	}
	if dl := queue.DeadLetters("fusionize"); len(dl) != 0 {
		t.Errorf("dead letters in the queue: %+v", dl)
	}

	across := rtt.Zero()
	across.Links = []rtt.Link{{A: onAWS.String(), B: onGCP.String(), RTTMs: float64(rttAcross / time.Millisecond)}}
	measure := func(table rtt.Table) crossCall {
		lam.SetRTT(table)
		emu.SetRTT(table)
		queue.SetRTT(table)
		return measureCrossCall(ctx, t, cp, inv, lam, emu, app, v, want)
	}
	none, paid := measure(zero), measure(across)
	t.Logf("I waits on CW (AWS to GCP): %v with no round trip, %v with %v (emulated); CS waits on CSL (GCP to AWS): %v, %v",
		none.callerWait["I"], paid.callerWait["I"], rttAcross, none.callerWait["CS"], paid.callerWait["CS"])
	for _, caller := range []string{"I", "CS"} {
		if w := paid.callerWait[caller]; w < rttAcross {
			t.Errorf("%s waited %v on its callee in the other cloud, less than the %v round trip", caller, w, rttAcross)
		}
	}
	if none.lambdaRTT != 0 || none.gcfRTT != 0 {
		t.Errorf("with a zero table the emulators report round trips: Lambda %v, Cloud Functions %v", none.lambdaRTT, none.gcfRTT)
	}
	if paid.lambdaRTT != rttAcross || paid.gcfRTT != rttAcross {
		t.Errorf("emulated round trips reported: Lambda %v, Cloud Functions %v; want %v", paid.lambdaRTT, paid.gcfRTT, rttAcross)
	}
}

// rttAcross is the emulated round trip between the clouds in
// TestIoTAcrossCloudsMatchesFused: large enough to dominate a warm call.
const rttAcross = 200 * time.Millisecond

// crossCall is what one request across clouds measured: how long each
// caller of a callee in the other cloud waited on its sync callees (from
// its span), and the largest emulated round trip each emulator reported.
type crossCall struct {
	callerWait        map[string]time.Duration
	lambdaRTT, gcfRTT time.Duration
}

// measureCrossCall invokes the app once and gathers the request's figures.
func measureCrossCall(ctx context.Context, t *testing.T, cp testControlPlane, inv *invoke.Invoker, lam *lambdaemu.Emulator, emu *gcf.Emulator, app *manifest.App, v int64, want []byte) crossCall {
	t.Helper()
	since := time.Now()
	res, err := inv.Invoke(ctx, app.Entry, []byte(app.Input))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Output, want) {
		t.Fatalf("across clouds the app returned\n%s\nfused it returned\n%s", res.Output, want)
	}
	got := crossCall{callerWait: map[string]time.Duration{}}
	for deadline := time.Now().Add(2 * time.Minute); len(got.callerWait) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no spans of I and CS since %v: %v", since, got.callerWait)
		}
		spans, err := cp.client.Spans(ctx, v, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range spans {
			if (s.Task == "I" || s.Task == "CS") && !s.Start.Before(since) && s.Err == "" {
				got.callerWait[s.Task] = s.Wait
			}
		}
	}
	for _, r := range lam.Reports("") {
		if !r.Time.Before(since) {
			got.lambdaRTT = max(got.lambdaRTT, r.NetworkRTT)
		}
	}
	for _, r := range emu.Requests("") {
		if !r.Start.Before(since) {
			got.gcfRTT = max(got.gcfRTT, r.NetworkRTT)
		}
	}
	return got
}
