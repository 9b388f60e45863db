package deploy_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/api/setup"
	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
	"github.com/fusionize/fusionize/emulators/lambda/lambdatest"
)

// TestAliasSwitchUnderLoadFailsNoRequest switches an app on the Lambda
// emulator from two functions to one and back while clients keep calling
// it: every request is answered, by one version or the next.
func TestAliasSwitchUnderLoadFailsNoRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Lambda bootstrap and starts execution environments")
	}
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	_, url := lambdatest.Start(t, lambdaemu.Options{Logger: quiet})
	dir, err := os.MkdirTemp("", "fusionize-switch-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	a, err := aws.New(ctx, aws.Options{Endpoint: url, Timeout: 10, Packager: aws.NewPackager(dir, quiet), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	switchUnderLoad(t, ctx, a, setup.Place{Provider: aws.Provider, Region: "us-east-1"}, quiet)
}
