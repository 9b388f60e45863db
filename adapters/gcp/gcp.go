// Package gcp is the Adapter that deploys fusion groups as Google Cloud
// Functions (2nd gen) through cloud.google.com/go/functions/apiv2.
//
// Each setup version of a group is a function of its own,
// FunctionName(app, group, version) ("fz-iot-ca-v3"): Cloud Functions has
// no aliases, and two setup versions of a group must serve side by side
// during a live switch. Deploy builds the group's function source
// (runtime/gcf's layout, vendored by the Packager: 2nd gen builds every
// function from source; on linux/amd64 the Packager also ships wazero's
// compilation cache of the group's modules, written by a precompiler built
// from the source's own vendor/ tree, and a module that does not load fails
// the deploy with ErrUnhealthy before anything is created), uploads it to the URL GenerateUploadUrl gives,
// creates the function (memory, CPU, timeout, max instances, concurrency 1,
// environment, labels) and polls its long-running operation, then pings
// the function's URL once: a source that builds but cannot load its group
// fails the deploy with ErrUnhealthy and the runtime's own message, and the
// function is deleted. The endpoint is the function's URL (api.KindHTTPS).
// Remove deletes the function after Options.Drain; List reads the functions labelled as
// Fusionize's; Close removes what this adapter deployed.
//
//	a, err := gcp.New(ctx, gcp.Options{Project: "my-project", Region: "us-east4"})
//	ep, err := a.Deploy(ctx, adapters.Deployment{App: "iot", Version: 3, Group: g, ControlPlane: cp, Token: tok})
//	// ep.Endpoint is api.Endpoint{Kind: api.KindHTTPS, URL: <the function's URL>}
//
// For a real project, give Project and Region and credentials as client
// options (option.WithCredentialsFile with a service account key, or
// Application Default Credentials when none is given); set IDTokens so
// pings and calls carry Google ID tokens (the service account needs
// roles/run.invoker on the functions), ServiceAccount for the functions'
// runtime identity, ControlPlane to a public TLS address of the control
// plane, and Queue to a Cloud Tasks queue for async calls. Against the
// Cloud Functions emulator (emulators/gcf), set Endpoint to its gRPC
// address: the adapter then dials without TLS or credentials.
package gcp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/host/transport/https"
)

// Provider is the provider name of the places this adapter deploys to.
const Provider = "gcp"

// Options configure the adapter.
type Options struct {
	// Project and Region functions are created in (a group's place may
	// name its region). Defaults "fusionize-local" and "us-east4".
	Project, Region string
	// Endpoint is the FunctionService gRPC address: "" for Google's, the
	// emulator's "host:port" otherwise (plaintext, no credentials).
	Endpoint string
	// ClientOptions add to the functions client's options (credentials
	// for a real project).
	ClientOptions []option.ClientOption
	// IDTokens gives the ID tokens of pings (GoogleIDTokens for a real
	// project). Nil: none (the emulator).
	IDTokens func(ctx context.Context, audience string) (string, error)
	// ServiceAccount is the functions' runtime service account ("": the
	// project's default compute service account).
	ServiceAccount string
	// Timeout of each request, in seconds (1..3600). Default 60.
	Timeout int
	// MaxInstances bounds each function's instances. Default 100.
	MaxInstances int
	// ControlPlane, when set, is the control-plane address the functions
	// use instead of the deployment's (the address as seen from them).
	ControlPlane string
	// Queue is the Cloud Tasks queue URL the functions enqueue async calls
	// to other groups on (see host/transport/https).
	Queue string
	// Packager builds function sources. Default NewPackager("", Logger).
	Packager *Packager
	// PollInterval is how often a long-running operation is polled.
	// Default 100 ms (the client's Wait would back off from 1 s).
	PollInterval time.Duration
	// HTTPClient carries uploads and pings. Default pooled connections.
	HTTPClient *http.Client
	// Drain is how long Remove lets a setup version's functions take
	// requests before it deletes them: Cloud Functions cannot refuse new
	// requests as a draining host does, and clients that resolved the
	// version before the switch (within their refresh interval) still send
	// to it. A request arriving after Drain finds the function gone
	// (CodeNotFound). Default 2 s; negative: none.
	Drain  time.Duration
	Logger *slog.Logger
}

// Adapter deploys groups to Cloud Functions. It is safe for concurrent use.
type Adapter struct {
	opts      Options
	client    *functions.FunctionClient
	transport *https.Transport
	pack      *Packager

	mu       sync.Mutex
	closed   bool
	deployed map[string]adapters.Endpoint // by function name, what this adapter deployed
}

var _ adapters.Adapter = (*Adapter)(nil)

// New returns an adapter with a functions client for opts.
func New(ctx context.Context, opts Options) (*Adapter, error) {
	if opts.Project == "" {
		opts.Project = "fusionize-local"
	}
	if opts.Region == "" {
		opts.Region = "us-east4"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60
	}
	if opts.Timeout > 3600 {
		return nil, fmt.Errorf("gcp: timeout %d s exceeds Cloud Functions' 3600 s", opts.Timeout)
	}
	if opts.MaxInstances <= 0 {
		opts.MaxInstances = 100
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	if opts.Drain == 0 {
		opts.Drain = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableCompression = true
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	if opts.Packager == nil {
		opts.Packager = NewPackager("", opts.Logger)
	}
	co := opts.ClientOptions
	if opts.Endpoint != "" {
		co = append([]option.ClientOption{
			option.WithEndpoint(opts.Endpoint),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		}, co...)
	}
	client, err := functions.NewFunctionClient(ctx, co...)
	if err != nil {
		return nil, fmt.Errorf("gcp: functions client: %w", err)
	}
	a := &Adapter{
		opts: opts, client: client, pack: opts.Packager,
		transport: https.New(https.Options{HTTPClient: opts.HTTPClient, IDTokens: opts.IDTokens}),
		deployed:  map[string]adapters.Endpoint{},
	}
	return a, nil
}

// Name implements adapters.Adapter.
func (a *Adapter) Name() string { return Provider }

// Providers implements adapters.Adapter.
func (a *Adapter) Providers() []string { return []string{Provider} }

// Client returns the adapter's functions client.
func (a *Adapter) Client() *functions.FunctionClient { return a.client }
