//go:build emulated

package examples_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/api/setup"
	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
	"github.com/fusionize/fusionize/fuser/deploy"
	"github.com/fusionize/fusionize/fuser/invoke"
	"github.com/fusionize/fusionize/guest-sdk/build"
)

// lambdaFigures is what the Lambda emulator's REPORT records say about one
// all-in-one group (emulated figures).
type lambdaFigures struct {
	memoryMB, maxMemoryMB int
	init                  time.Duration // of the first cold start
	costPerMillion        float64       // mean CostUSD of the warm invocations × 1e6
}

// TestIoTModuleFusedOnLambdaAnswersAlikeInLessMemory deploys IoT's ten Go
// tasks as one group through the deployer (its FusedModules hook builds and
// stores the fused module) and the aws adapter to the Lambda emulator,
// twice: instance-fused at 1024 MB (it needs ≈ 300 MB, and at 512 MB's CPU
// share its ten runtimes' init can overrun Lambda's 10 s init limit on a
// busy machine), module-fused at 128 MB, the smallest size. Both answer what the app answers in one
// local host, and the REPORT records show the module-fused group's max
// memory used well below the instance-fused one's. It logs the figures
// BENCHMARKS.md ("Module fusion through the deploy path") shows.
func TestIoTModuleFusedOnLambdaAnswersAlikeInLessMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the IoT app, its fused module and the Lambda bootstrap, starts two functions")
	}
	app := buildApp(t, "iot")
	want := fusedResult(t, app)
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	cp := controlPlane(t)
	cp.uploadModules(ctx, t, app)
	em, url := lambdaEmulator(t)
	a, err := aws.New(ctx, aws.Options{Endpoint: url, Timeout: 120, Drain: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(context.Background()); err != nil && !errors.Is(err, adapters.ErrClosed) {
			t.Errorf("close adapter: %v", err)
		}
	})
	prep := deploy.FusedModules(app, cp.store, deploy.FusedOptions{Build: build.Options{CacheDir: fusedCacheDir}})
	d := deploy.New(cp.store, adapters.Adapters{aws.Provider: a}, deploy.Options{App: app.Name, ControlPlane: cp.addr, Token: cp.token, Grace: time.Millisecond, Logger: quiet, Prepare: prep})
	place := setup.Place{Provider: aws.Provider, Region: "us-east-1"}
	const requests = 4
	figures := map[string]lambdaFigures{}
	for _, c := range []struct {
		group, fusion string
		memoryMB      int
	}{{"mod", setup.FusionModule, 128}, {"inst", setup.FusionInstance, 1024}} {
		su := &setup.Setup{Groups: []setup.Group{{Name: c.group, Tasks: app.TaskNames(), MemoryMB: c.memoryMB, Place: place, Fusion: c.fusion}}}
		v, err := cp.client.ApplySetup(ctx, su)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Switch(ctx, v); err != nil {
			t.Fatalf("%s: %v\nlog:\n%s", c.group, err, em.Logs(aws.FunctionName(app.Name, c.group)))
		}
		inv := invoke.New(cp.client)
		for range requests {
			res, err := inv.Invoke(ctx, app.Entry, []byte(app.Input))
			if err != nil {
				inv.Close()
				t.Fatalf("%s-fused: %v", c.fusion, err)
			}
			if !bytes.Equal(res.Output, want) {
				inv.Close()
				t.Fatalf("%s-fused on Lambda the app returned\n%s\nin one local host\n%s", c.fusion, res.Output, want)
			}
		}
		inv.Close()
		figures[c.fusion] = reportFigures(t, em.Reports(aws.FunctionName(app.Name, c.group)), c.memoryMB)
	}
	inst, mod := figures[setup.FusionInstance], figures[setup.FusionModule]
	for _, f := range []string{setup.FusionInstance, setup.FusionModule} {
		r := figures[f]
		t.Logf("IoT all-in-one %-8s at %3d MB (emulated): cold-start init %6.1f ms, max memory used %3d MB, $%.2f per million warm requests",
			f+"-fused", r.memoryMB, float64(r.init.Microseconds())/1000, r.maxMemoryMB, r.costPerMillion)
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		t.Logf("load average %s (%d cores)", strings.Fields(string(load))[0], runtime.NumCPU())
	}
	if mod.maxMemoryMB >= inst.maxMemoryMB || mod.maxMemoryMB > 128 {
		t.Errorf("max memory used: module-fused %d MB at 128 MB, instance-fused %d MB; want module-fused lower and within 128 MB", mod.maxMemoryMB, inst.maxMemoryMB)
	}
}

// reportFigures sums up the REPORT records of one function's published
// versions: every invocation must have succeeded at memoryMB.
func reportFigures(t *testing.T, reports []lambdaemu.Report, memoryMB int) lambdaFigures {
	t.Helper()
	f := lambdaFigures{memoryMB: memoryMB}
	var warm []float64
	for _, r := range reports {
		if r.Version == "$LATEST" {
			continue
		}
		if r.Status != "success" || r.MemorySizeMB != memoryMB {
			t.Errorf("%s: %s at %d MB, want success at %d MB", r.Function, r.Status, r.MemorySizeMB, memoryMB)
		}
		f.maxMemoryMB = max(f.maxMemoryMB, r.MaxMemoryUsed)
		if r.Cold && f.init == 0 {
			f.init = r.InitDuration
		} else if !r.Cold {
			warm = append(warm, r.CostUSD)
		}
	}
	if f.init == 0 || len(warm) == 0 {
		t.Fatalf("reports %+v: want a cold start and warm invocations", reports)
	}
	var sum float64
	for _, c := range warm {
		sum += c
	}
	f.costPerMillion = sum / float64(len(warm)) * 1e6
	return f
}
