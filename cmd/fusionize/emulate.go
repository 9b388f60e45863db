package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
)

func init() { extraCommands = append(extraCommands, newEmulateCmd) }

func newEmulateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Run an emulated cloud platform on this machine (aws: the Lambda API)",
		Long: `Runs an emulator that stands where a cloud cannot be reached. Every figure
it reports (durations, billing, cold starts) is EMULATED: measured on this
machine under the platform's rules, not on the cloud.`,
	}
	cmd.AddCommand(newEmulateAWSCmd())
	return cmd
}

func newEmulateAWSCmd() *cobra.Command {
	var listen, region string
	var keepAlive, sandboxDelay time.Duration
	var forceCold bool
	var concurrency int
	cmd := &cobra.Command{
		Use:   "aws",
		Short: "Run the Lambda emulator: the Lambda API for any AWS SDK or the AWS CLI",
		Long: `Serves the Lambda API (create, update, publish, aliases, invoke sync, Event
and DryRun, tags, concurrency) at --listen. Every execution environment is its
own process running the uploaded bootstrap, one invocation at a time, with CPU
and memory limited by the function's memory size; each invocation writes a
REPORT line to the function's log (Invoke with LogType Tail returns it).

Point a client at it with any credentials:

  export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1
  aws --endpoint-url http://127.0.0.1:9001 lambda list-functions
  export AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:9001   # for the SDKs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			em, err := lambdaemu.New(lambdaemu.Options{
				Dir: filepath.Join(g.dataDir, "emulate-aws"), Region: region,
				KeepAlive: keepAlive, SandboxDelay: sandboxDelay, ForceColdStart: forceCold,
				ConcurrencyLimit: concurrency, Logger: logger(),
			})
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("emulate aws: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Lambda emulator (emulated AWS Lambda, %s): http://%s\n", region, l.Addr())
			serveErr := make(chan error, 1)
			go func() { serveErr <- em.Serve(cmd.Context(), l) }()
			var err1 error
			select {
			case <-cmd.Context().Done():
			case err1 = <-serveErr:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err2 := em.Close(ctx)
			if err1 == nil {
				err1 = <-serveErr
			}
			if errors.Is(err1, context.Canceled) || errors.Is(err1, http.ErrServerClosed) {
				err1 = nil
			}
			return errors.Join(err1, err2)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9001", "listen address of the Lambda API")
	f.StringVar(&region, "region", "us-east-1", "region in ARNs and the environment")
	f.DurationVar(&keepAlive, "keep-alive", 5*time.Minute, "how long an idle execution environment is kept")
	f.DurationVar(&sandboxDelay, "sandbox-delay", 0, "emulated sandbox creation time added to every cold start")
	f.BoolVar(&forceCold, "force-cold-start", false, "give every invocation a new execution environment")
	f.IntVar(&concurrency, "concurrency", 1000, "most busy environments per function (429 past it)")
	return cmd
}
