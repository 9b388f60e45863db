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
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/emulators/gcf"
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
	for _, tk := range app.Tasks {
		if _, err := cp.client.UploadModuleFile(ctx, tk.Name, app.ModulePath(&tk)); err != nil {
			t.Fatal(err)
		}
	}

	_, lambdaURL := lambdaEmulator(t)
	gcfDir := t.TempDir()
	emu, err := gcf.New(gcf.Options{Dir: gcfDir, Logger: quiet})
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
	queue := tasks.New(tasks.Options{Logger: quiet})
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
	su := &setup.Setup{Groups: []setup.Group{
		{Name: "ingest", Tasks: []string{"I", "CW", "SE"}, MemoryMB: 512, Place: onAWS},
		{Name: "temp", Tasks: []string{"CT"}, MemoryMB: 512, Place: onGCP},
		{Name: "stats", Tasks: []string{"CS", "CSL", "CSA"}, MemoryMB: 512, Place: onGCP},
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
	if kinds[api.KindLambda] != 2 || kinds[api.KindHTTPS] != 3 {
		t.Fatalf("endpoints %v: want two Lambda functions and three Cloud Functions", eps)
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
	if dl := queue.DeadLetters("fusionize"); len(dl) != 0 {
		t.Errorf("dead letters in the queue: %+v", dl)
	}
}
