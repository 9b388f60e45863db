package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/emulators/gcf"
	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
	"github.com/fusionize/fusionize/emulators/tasks"
)

// cloudFlags say which clouds `serve` deploys to and how.
type cloudFlags struct {
	// aws: "" (no AWS), "emulate" (the Lambda emulator in this process),
	// "cloud" (the real AWS account of the SDK's default credentials) or
	// the URL of a Lambda API (an emulator running elsewhere).
	aws       string
	awsRegion string
	awsRole   string
	// gcp: "" (no GCP), "emulate" (the Cloud Functions emulator and a
	// Cloud Tasks queue in this process) or "cloud" (your project).
	gcp        string
	gcpProject string
	gcpRegion  string
	gcpQueue   string
	// rtt: the --rtt table of the emulated clouds (see loadRTT).
	rtt string
}

func (c *cloudFlags) register(f *pflag.FlagSet) {
	f.StringVar(&c.aws, "aws", "", `deploy aws places: "emulate" (the Lambda emulator in this process), "cloud" (your AWS account), or a Lambda API URL`)
	f.StringVar(&c.awsRegion, "aws-region", "us-east-1", "default region of aws places")
	f.StringVar(&c.awsRole, "aws-role", "", "execution role ARN of created Lambda functions (needed with --aws cloud)")
	f.StringVar(&c.gcp, "gcp", "", `deploy gcp places: "emulate" (Cloud Functions and Cloud Tasks emulators in this process) or "cloud" (your project)`)
	f.StringVar(&c.gcpProject, "gcp-project", "fusionize-local", "project of gcp places")
	f.StringVar(&c.gcpRegion, "gcp-region", "us-east4", "default region of gcp places")
	f.StringVar(&c.gcpQueue, "gcp-queue", "", "Cloud Tasks queue URL for async calls to Cloud Functions (with --gcp cloud)")
	f.StringVar(&c.rtt, "rtt", "", "with --aws emulate or --gcp emulate: "+rttUsage)
}

// clouds is what `serve` runs for the clouds: adapters, and emulators it
// started (stopped after the adapters on close).
type clouds struct {
	adapters []adapters.Adapter
	stops    []func(context.Context) error
	// The emulators started in this process, whose platform reports the
	// loop reads (nil when not emulated).
	lambda *lambdaemu.Emulator
	gcf    *gcf.Emulator
	tasks  *tasks.Emulator
	rtt    []func(rtt.Table) // the emulators' SetRTT
}

// followRTT applies edits of the --rtt file to the running emulators until
// the clouds close.
func (cl *clouds) followRTT(file string, log *slog.Logger) {
	stop := followRTT(context.Background(), file, log, cl.rtt...)
	cl.stops = append(cl.stops, func(context.Context) error { stop(); return nil })
}

// start makes the cloud adapters of c and adds them to ads.
func (c *cloudFlags) start(ctx context.Context, w io.Writer, ads adapters.Adapters, log *slog.Logger) (*clouds, error) {
	// Absolute: an emulator starts environments in directories of its own.
	data, err := filepath.Abs(g.dataDir)
	if err != nil {
		return nil, err
	}
	cl := &clouds{}
	queue, err := c.startGCP(ctx, w, cl, ads, data, log)
	if err != nil {
		return nil, errors.Join(err, cl.close(ctx))
	}
	if c.aws == "" {
		cl.followRTT(c.rtt, log)
		return cl, nil
	}
	opts := aws.Options{Queue: queue, Region: c.awsRegion, Role: c.awsRole, Logger: log,
		Packager: aws.NewPackager(filepath.Join(data, "lambda"), log)}
	switch {
	case c.aws == "emulate":
		table, err := loadRTT(c.rtt)
		if err != nil {
			return nil, errors.Join(err, cl.close(ctx))
		}
		em, url, stop, err := startLambdaEmulator(ctx, filepath.Join(data, "emulate-aws"), c.awsRegion, table, log)
		if err != nil {
			return nil, errors.Join(err, cl.close(ctx))
		}
		cl.lambda = em
		cl.stops = append(cl.stops, stop)
		cl.rtt = append(cl.rtt, em.SetRTT)
		opts.Endpoint = url
		fmt.Fprintf(w, "aws: Lambda emulator at %s (emulated AWS Lambda, %s)\n", url, c.awsRegion)
	case c.aws == "cloud":
		if c.awsRole == "" {
			return nil, errors.New("--aws cloud needs --aws-role: the execution role of the functions")
		}
		fmt.Fprintf(w, "aws: AWS Lambda in %s\n", c.awsRegion)
	case strings.HasPrefix(c.aws, "http://") || strings.HasPrefix(c.aws, "https://"):
		opts.Endpoint = c.aws
		fmt.Fprintf(w, "aws: Lambda API at %s\n", c.aws)
	default:
		return nil, fmt.Errorf(`--aws %q: want "emulate", "cloud" or a Lambda API URL`, c.aws)
	}
	a, err := aws.New(ctx, opts)
	if err != nil {
		return nil, errors.Join(err, cl.close(ctx))
	}
	cl.adapters = append(cl.adapters, a)
	ads[aws.Provider] = a
	cl.followRTT(c.rtt, log)
	return cl, nil
}

// close removes what the cloud adapters deployed, then stops the emulators.
func (cl *clouds) close(ctx context.Context) error {
	var errs []error
	for _, a := range cl.adapters {
		if err := a.Close(ctx); err != nil && !errors.Is(err, adapters.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, stop := range cl.stops {
		errs = append(errs, stop(ctx))
	}
	return errors.Join(errs...)
}

// startLambdaEmulator serves a Lambda emulator on a free loopback port.
func startLambdaEmulator(ctx context.Context, dir, region string, table *rtt.Table, log *slog.Logger) (*lambdaemu.Emulator, string, func(context.Context) error, error) {
	em, err := lambdaemu.New(lambdaemu.Options{Dir: dir, Region: region, RTT: table, Logger: log})
	if err != nil {
		return nil, "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, errors.Join(err, em.Close(ctx))
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- em.Serve(sctx, l) }()
	stop := func(ctx context.Context) error {
		err := em.Close(ctx)
		cancel()
		select {
		case serr := <-served:
			if serr != nil && !errors.Is(serr, context.Canceled) && !errors.Is(serr, http.ErrServerClosed) {
				err = errors.Join(err, serr)
			}
		case <-time.After(10 * time.Second):
		}
		return err
	}
	return em, "http://" + l.Addr().String(), stop, nil
}

// startGCP makes the gcp adapter of c (and, with --gcp emulate, its
// emulators) and returns the queue URL of async calls to Cloud Functions.
func (c *cloudFlags) startGCP(ctx context.Context, w io.Writer, cl *clouds, ads adapters.Adapters, data string, log *slog.Logger) (string, error) {
	opts := gcp.Options{Project: c.gcpProject, Region: c.gcpRegion, Queue: c.gcpQueue, Logger: log,
		Packager: gcp.NewPackager(filepath.Join(data, "gcf"), log)}
	switch c.gcp {
	case "":
		return "", nil
	case "emulate":
		table, err := loadRTT(c.rtt)
		if err != nil {
			return "", err
		}
		em, err := gcf.New(gcf.Options{Dir: filepath.Join(data, "emulate-gcp"), Project: c.gcpProject, RTT: table, Logger: log})
		if err != nil {
			return "", err
		}
		if err := em.Start(context.WithoutCancel(ctx), "127.0.0.1:0", "127.0.0.1:0"); err != nil {
			return "", err
		}
		cl.stops = append(cl.stops, em.Close)
		cl.gcf = em
		q := tasks.New(tasks.Options{RTT: table, Logger: log})
		if err := q.Start("127.0.0.1:0"); err != nil {
			return "", err
		}
		cl.stops = append(cl.stops, func(context.Context) error { return q.Close() })
		cl.tasks = q
		cl.rtt = append(cl.rtt, em.SetRTT, q.SetRTT)
		opts.Endpoint = em.GRPCAddr()
		opts.Queue = q.QueueURL(c.gcpProject, c.gcpRegion, "fusionize")
		fmt.Fprintf(w, "gcp: Cloud Functions emulator at %s, Cloud Tasks queue %s (emulated, %s)\n", em.GRPCAddr(), opts.Queue, c.gcpRegion)
	case "cloud":
		if opts.Queue == "" {
			log.Warn("gcp: no --gcp-queue: async calls to Cloud Functions will fail")
		}
		fmt.Fprintf(w, "gcp: Cloud Functions in %s/%s\n", c.gcpProject, c.gcpRegion)
	default:
		return "", fmt.Errorf(`--gcp %q: want "emulate" or "cloud"`, c.gcp)
	}
	a, err := gcp.New(ctx, opts)
	if err != nil {
		return "", err
	}
	cl.adapters = append(cl.adapters, a)
	ads[gcp.Provider] = a
	return opts.Queue, nil
}
