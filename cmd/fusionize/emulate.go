package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/emulators/gcf"
	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
	"github.com/fusionize/fusionize/emulators/netem"
	"github.com/fusionize/fusionize/emulators/tasks"
)

func init() { extraCommands = append(extraCommands, newEmulateCmd) }

func newEmulateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Run an emulated cloud platform on this machine (aws: the Lambda API; gcp: Cloud Functions)",
		Long: `Runs an emulator that stands where a cloud cannot be reached. Every figure
it reports (durations, billing, cold starts) is EMULATED: measured on this
machine under the platform's rules, not on the cloud.`,
	}
	cmd.AddCommand(newEmulateAWSCmd(), newEmulateGCPCmd())
	return cmd
}

func newEmulateGCPCmd() *cobra.Command {
	var listen, httpListen, queueListen, rttFile string
	var keepAlive, sandboxDelay time.Duration
	var forceCold bool
	cmd := &cobra.Command{
		Use:   "gcp",
		Short: "Run the Cloud Functions (2nd gen) emulator and a Cloud Tasks queue",
		Long: `Serves google.cloud.functions.v2.FunctionService and google.longrunning.Operations
over gRPC at --listen for the real cloud.google.com/go/functions/apiv2 client,
upload URLs and function URLs over HTTP at --http-listen, and an emulated
Cloud Tasks queue at --queue-listen. Uploaded source is built as Google's Go
buildpack builds it (offline: vendor it); each instance is its own process,
one request at a time by default, CPU and memory limited by the function's
memory (the Cloud Run table).

Point the Go client at it:

  functions.NewFunctionClient(ctx, option.WithEndpoint("127.0.0.1:9090"),
      option.WithoutAuthentication(),
      option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))

Functions answer at service_config.uri (plain http on loopback, no ID
token); billing figures come back in X-Emulator-* headers and from
GET /emulator/v1/requests?function=F. gcloud is not supported (it speaks
REST).

A request from a Fusionize host in another place (it names its place in
the X-Fusionize-Caller-Place header) waits the emulated round trip between
the two places (--rtt) before it is routed; the wait is reported as
emulated and never billed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			table, err := loadRTT(rttFile)
			if err != nil {
				return err
			}
			em, err := gcf.New(gcf.Options{Dir: filepath.Join(g.dataDir, "emulate-gcp"), KeepAlive: keepAlive,
				SandboxDelay: sandboxDelay, ForceColdStart: forceCold, RTT: table, Logger: logger()})
			if err != nil {
				return err
			}
			if err := em.Start(context.Background(), listen, httpListen); err != nil {
				return err
			}
			q := tasks.New(tasks.Options{RTT: table, Logger: logger()})
			if err := q.Start(queueListen); err != nil {
				return errors.Join(err, em.Close(context.Background()))
			}
			defer followRTT(cmd.Context(), rttFile, logger(), em.SetRTT, q.SetRTT)()
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Cloud Functions emulator (emulated Cloud Run functions): gRPC %s, HTTP http://%s\n", em.GRPCAddr(), em.HTTPAddr())
			fmt.Fprintf(w, "Cloud Tasks queue (emulated): %s\n", q.QueueURL("fusionize-local", "us-east4", "fusionize"))
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return errors.Join(em.Close(ctx), q.Close())
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9090", "gRPC listen address of the FunctionService API")
	f.StringVar(&httpListen, "http-listen", "127.0.0.1:9091", "listen address of uploads and function URLs")
	f.StringVar(&queueListen, "queue-listen", "127.0.0.1:9092", "listen address of the Cloud Tasks queue")
	f.DurationVar(&keepAlive, "keep-alive", 15*time.Minute, "how long an idle instance is kept")
	f.DurationVar(&sandboxDelay, "sandbox-delay", 0, "emulated sandbox creation time added to every cold start")
	f.BoolVar(&forceCold, "force-cold-start", false, "give every request a new instance")
	f.StringVar(&rttFile, "rtt", "", rttUsage)
	return cmd
}

func newEmulateAWSCmd() *cobra.Command {
	var listen, region, rttFile string
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
An invoke from a Fusionize host in another place (X-Fusionize-Caller-Place)
waits the emulated round trip between the two places (--rtt) before it is
dispatched; it is never part of the billed duration.

Point a client at it with any credentials:

  export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1
  aws --endpoint-url http://127.0.0.1:9001 lambda list-functions
  export AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:9001   # for the SDKs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			table, err := loadRTT(rttFile)
			if err != nil {
				return err
			}
			em, err := lambdaemu.New(lambdaemu.Options{
				Dir: filepath.Join(g.dataDir, "emulate-aws"), Region: region,
				KeepAlive: keepAlive, SandboxDelay: sandboxDelay, ForceColdStart: forceCold,
				ConcurrencyLimit: concurrency, RTT: table, Logger: logger(),
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
			defer followRTT(cmd.Context(), rttFile, logger(), em.SetRTT)()
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
	f.StringVar(&rttFile, "rtt", "", rttUsage)
	return cmd
}

const rttUsage = `JSON file of emulated round trips between places, over the defaults ({"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":200}],"sameRegionRttMs":0.5,"defaultRttMs":50}); "zero" for none. Edits of the file apply to running emulators within a second`

// followRTT applies edits of the --rtt file to running emulators (their
// SetRTT; see netem.Follow) until ctx ends or stop is called; stop waits for
// it. "" and "zero" name no file: nothing is followed.
func followRTT(ctx context.Context, file string, log *slog.Logger, set ...func(rtt.Table)) (stop func()) {
	if file == "" || file == "zero" || len(set) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		netem.Follow(ctx, file, time.Second, log, set...)
	}()
	return func() { cancel(); <-done }
}

// loadRTT reads the --rtt table: nil (the defaults) for "", every round
// trip zero for "zero", else the file.
func loadRTT(file string) (*rtt.Table, error) {
	switch file {
	case "":
		return nil, nil
	case "zero":
		t := rtt.Zero()
		return &t, nil
	}
	t, err := netem.Load(file)
	if err != nil {
		return nil, fmt.Errorf("--rtt: %w", err)
	}
	return &t, nil
}
