// Package aws is the Adapter that deploys fusion groups as AWS Lambda
// functions through github.com/aws/aws-sdk-go-v2/service/lambda.
//
// A group of an app is one function, FunctionName(app, group); a setup
// version of the group is a published version of it, reached through the
// alias AliasName(setupVersion) ("v3"). Deploy builds the group's
// deployment package (runtime/lambda: the bootstrap, the group's modules,
// its setup and the wazero compilation cache), creates the function or
// updates its code and configuration, waits with the SDK's waiters,
// publishes a version, points the alias at it and pings it once (which
// starts its first execution environment, so a package that does not load
// fails the deploy with the runtime's own error). The endpoint it returns
// is the function and alias. Remove deletes the alias and its version, and
// the function when no alias is left. List reads the functions tagged as
// Fusionize's and their aliases.
//
//	a, err := aws.New(aws.Options{Region: "us-east-1", Role: "arn:aws:iam::123456789012:role/fusionize"})
//	ep, err := a.Deploy(ctx, adapters.Deployment{App: "iot", Version: 3, Group: g, ControlPlane: cp, Token: tok})
//
// For a real account, give Region and Role (an execution role Lambda can
// assume; it needs no permission beyond writing logs) and leave Endpoint
// empty; credentials come from Options.Credentials or the SDK's default
// chain (environment, shared config, SSO). The functions must reach the
// control plane at Options.ControlPlane (a public address with TLS) to
// report spans and learn the endpoints of other groups. Against the Lambda
// emulator (emulators/lambda), set Endpoint to its URL and any static
// credentials.
package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/fusionize/fusionize/adapters"
	lambdatransport "github.com/fusionize/fusionize/host/transport/lambda"
)

// Provider is the provider name of the places this adapter deploys to.
const Provider = "aws"

// Options configure the adapter.
type Options struct {
	// Region functions are created in, unless a group's place names one.
	// Default "us-east-1".
	Region string
	// Role is the execution role ARN of created functions. Default a
	// placeholder the emulator accepts; required for a real account.
	Role string
	// Endpoint is the Lambda API base URL: "" for AWS, the emulator's URL
	// otherwise.
	Endpoint string
	// Credentials sign API requests. Nil: static dummy credentials when
	// Endpoint is set (an emulator), else the SDK's default chain.
	Credentials aws.CredentialsProvider
	// Arch is the functions' architecture: "x86_64" (default) or "arm64",
	// unless a group's place names one.
	Arch string
	// Timeout of each invocation, in seconds (1..900). Default 60.
	Timeout int
	// Packager builds deployment packages. Default a Packager building the
	// bootstrap from this module's source.
	Packager *Packager
	// ControlPlane, when set, is the control-plane address the functions
	// use instead of the deployment's (the address as seen from the
	// function).
	ControlPlane string
	// Queue is the Cloud Tasks queue URL the functions send async calls to
	// groups on Cloud Functions through ("" for none).
	Queue string
	// HTTPClient carries API requests. Default http.DefaultClient's
	// transport with pooled connections.
	HTTPClient *http.Client
	// WaitTimeout bounds each wait for a function to become active or
	// updated. Default 2 minutes.
	WaitTimeout time.Duration
	// Drain is how long Remove lets a setup version's running invocations
	// go on before it deletes the version: Lambda cannot refuse new client
	// requests while still taking calls from the version's other groups,
	// as a draining host does, so an invocation of the old version still
	// running after Drain may find a callee gone (CodeUnavailable).
	// Default 2 s; negative: none.
	Drain  time.Duration
	Logger *slog.Logger
}

// Adapter deploys groups to Lambda.
type Adapter struct {
	opts      Options
	client    *lambda.Client
	pack      *Packager
	transport *lambdatransport.Transport

	mu       sync.Mutex
	deployed map[string]deployment // by adapters.ID, what this adapter deployed
	closed   bool
}

// deployment is a group this adapter deployed.
type deployment struct {
	app, group string
	version    int64
}

// New returns an adapter. It loads the SDK's default configuration only
// when no Endpoint and no Credentials are given.
func New(ctx context.Context, opts Options) (*Adapter, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Role == "" {
		opts.Role = "arn:aws:iam::000000000000:role/fusionize"
	}
	if opts.Arch == "" {
		opts.Arch = string(types.ArchitectureX8664)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60
	}
	if opts.Timeout > 900 {
		return nil, fmt.Errorf("aws: timeout %d s exceeds Lambda's 900 s", opts.Timeout)
	}
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = 2 * time.Minute
	}
	if opts.Drain == 0 {
		opts.Drain = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Packager == nil {
		opts.Packager = NewPackager("", opts.Logger)
	}
	lo := lambda.Options{
		Region:           opts.Region,
		HTTPClient:       opts.HTTPClient,
		Credentials:      opts.Credentials,
		RetryMaxAttempts: 3,
	}
	if opts.Endpoint != "" {
		lo.BaseEndpoint = aws.String(opts.Endpoint)
		if lo.Credentials == nil {
			lo.Credentials = credentials.NewStaticCredentialsProvider("fusionize", "fusionize", "")
		}
	}
	var client *lambda.Client
	if lo.Credentials == nil {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(opts.Region))
		if err != nil {
			return nil, fmt.Errorf("aws: load configuration: %w", err)
		}
		lo.Credentials = cfg.Credentials
		client = lambda.NewFromConfig(cfg, func(o *lambda.Options) {
			o.HTTPClient = opts.HTTPClient
			o.RetryMaxAttempts = 3
		})
	} else {
		client = lambda.New(lo)
	}
	tr := lambdatransport.New(lambdatransport.Options{Region: opts.Region, Endpoint: opts.Endpoint, Credentials: lo.Credentials, HTTPClient: opts.HTTPClient})
	return &Adapter{opts: opts, client: client, pack: opts.Packager, transport: tr, deployed: map[string]deployment{}}, nil
}

// Name implements adapters.Adapter.
func (a *Adapter) Name() string { return Provider }

// Providers implements adapters.Adapter.
func (a *Adapter) Providers() []string { return []string{Provider} }

var _ adapters.Adapter = (*Adapter)(nil)

// Client returns the adapter's Lambda client.
func (a *Adapter) Client() *lambda.Client { return a.client }

// isNotFound reports whether err is Lambda's 404.
func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// isConflict reports whether err is Lambda's 409.
func isConflict(err error) bool {
	var c *types.ResourceConflictException
	return errors.As(err, &c)
}
