package deploy_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/emulators/gcf"
)

// TestCloudFunctionsSwitchUnderLoadFailsNoRequest switches an app on the
// Cloud Functions emulator from two functions to one and back while clients
// keep calling it: every request is answered, by one version or the next
// (each setup version is its own set of functions; the deployer activates
// the new version, then drains and deletes the old one).
func TestCloudFunctionsSwitchUnderLoadFailsNoRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Cloud Functions from source and starts their instances")
	}
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	emu, err := gcf.New(gcf.Options{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := emu.Close(cctx); err != nil {
			t.Errorf("gcf emulator: %v", err)
		}
	}()
	dir, err := os.MkdirTemp("", "fusionize-switch-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	a, err := gcp.New(ctx, gcp.Options{Endpoint: emu.GRPCAddr(), Timeout: 10, PollInterval: 20 * time.Millisecond, Packager: gcp.NewPackager(dir, quiet), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	switchUnderLoad(t, ctx, a, setup.Place{Provider: gcp.Provider, Region: "us-east4"}, quiet)
}
