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
	lambdaemu "github.com/fusionize/fusionize/emulators/lambda"
)

// cloudFlags say which clouds `serve` deploys to and how.
type cloudFlags struct {
	// aws: "" (no AWS), "emulate" (the Lambda emulator in this process),
	// "cloud" (the real AWS account of the SDK's default credentials) or
	// the URL of a Lambda API (an emulator running elsewhere).
	aws       string
	awsRegion string
	awsRole   string
}

func (c *cloudFlags) register(f *pflag.FlagSet) {
	f.StringVar(&c.aws, "aws", "", `deploy aws places: "emulate" (the Lambda emulator in this process), "cloud" (your AWS account), or a Lambda API URL`)
	f.StringVar(&c.awsRegion, "aws-region", "us-east-1", "default region of aws places")
	f.StringVar(&c.awsRole, "aws-role", "", "execution role ARN of created Lambda functions (needed with --aws cloud)")
}

// clouds is what `serve` runs for the clouds: adapters, and emulators it
// started (stopped after the adapters on close).
type clouds struct {
	adapters []adapters.Adapter
	stops    []func(context.Context) error
}

// start makes the cloud adapters of c and adds them to ads.
func (c *cloudFlags) start(ctx context.Context, w io.Writer, ads adapters.Adapters, log *slog.Logger) (*clouds, error) {
	cl := &clouds{}
	if c.aws == "" {
		return cl, nil
	}
	opts := aws.Options{Region: c.awsRegion, Role: c.awsRole, Logger: log,
		Packager: aws.NewPackager(filepath.Join(g.dataDir, "lambda"), log)}
	switch {
	case c.aws == "emulate":
		url, stop, err := startLambdaEmulator(ctx, c.awsRegion, log)
		if err != nil {
			return nil, err
		}
		cl.stops = append(cl.stops, stop)
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
func startLambdaEmulator(ctx context.Context, region string, log *slog.Logger) (string, func(context.Context) error, error) {
	em, err := lambdaemu.New(lambdaemu.Options{Dir: filepath.Join(g.dataDir, "emulate-aws"), Region: region, Logger: log})
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, errors.Join(err, em.Close(ctx))
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
	return "http://" + l.Addr().String(), stop, nil
}
