package adaptertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/host/transport/https"
	lambdatransport "github.com/fusionize/fusionize/host/transport/lambda"
)

// Modules are copies of the committed test modules of host/testdata (their
// .wat sources are there); TestModulesMatchHost keeps them equal.
//
//go:embed testdata/*.wasm
var modules embed.FS

// Tasks are the tasks NewEnv uploads, each with the module of the same name:
// echo outputs its input, caller calls task "echo" synchronously and outputs
// the result, loop never returns and badabi claims an ABI version no host
// supports, so it never loads. The control plane refuses badabi at upload;
// NewEnv plants it in the store (Env.UploadUnchecked) so that the suite can
// check how a host that cannot start fails.
var Tasks = []string{"echo", "caller", "loop", BadTask}

// FusedModule is the test module (a copy of host/testdata/fusedpair) that
// holds FusedTasks, each echoing its input: the fused module (guest ABI
// version 2) of the module-fused group GroupFused.
const FusedModule = "fusedpair"

// FusedTasks are the tasks FusedModule holds.
var FusedTasks = []string{"fa", "fb"}

// GroupFused is the module-fused group of the ModuleFusedGroup case: echo
// and FusedTasks.
const GroupFused = "fused"

// BadTask is the task whose module no host can load.
const BadTask = "badabi"

// Group names of Env.Setup and Env.Next.
const (
	GroupCaller = "a"   // task caller
	GroupEcho   = "b"   // task echo
	GroupLoop   = "c"   // task loop
	GroupBad    = "bad" // task badabi: its host cannot start
)

// Env is what the hosts an adapter deploys need, and what the suite needs to
// know about the adapter's platform.
type Env struct {
	// ControlPlane is the address the adapter's hosts reach the control
	// plane at, and Token authenticates them.
	ControlPlane string
	Token        string
	// InvokeToken is the app's invoke token, handed to every Deployment
	// and sent by the suite's gRPC transport.
	InvokeToken string
	// App is the application name of every Deployment. Default "adaptertest".
	App string
	// Place is where the groups of Setup and Next run (NewEnvAt); Apply
	// gives it to groups that name none. Default: provider "local".
	Place setup.Place
	// Setup is an applied setup with the groups GroupCaller {caller},
	// GroupEcho {echo}, GroupLoop {loop} and GroupBad {badabi}, every task
	// of Tasks uploaded. Next is a later applied version of the same groups,
	// for deploying one group in two versions side by side.
	Setup, Next *setup.Setup

	// DeployTimeout bounds each Deploy of the suite, including one that
	// fails with ErrUnhealthy. Default 60 s.
	DeployTimeout time.Duration
	// DialOptions reach an endpoint's gRPC address. Default: plaintext.
	DialOptions []grpc.DialOption
	// Record records the endpoints of a setup version's groups, as the
	// deployer does before it activates the version (NewEnv: in the
	// control plane's store). The hosts route their calls by them.
	Record func(version int64, eps api.Endpoints) error
	// Plant stores a module in the control plane's store directly, past
	// the upload check that refuses modules no host could load (NewEnv:
	// the store's PutModule). It stands for a module stored before the
	// control plane checked uploads, and gives the suite a host that
	// cannot start (task badabi). See UploadUnchecked.
	Plant func(ctx context.Context, task string, r io.Reader, wantDigest string, maxSize int64) (api.ModuleInfo, error)
	// Leftovers, if set, reports what the adapter left running on its
	// platform (processes, functions, containers): the suite calls it after
	// a failed Deploy and after Close, and fails if it returns anything.
	Leftovers func() []string
}

// Deployment returns the deployment of the named group of su, for env's
// control plane.
func (e Env) Deployment(t testing.TB, su *setup.Setup, group string) adapters.Deployment {
	t.Helper()
	g, ok := su.Group(group)
	if !ok {
		t.Fatalf("adaptertest: setup version %d has no group %q", su.Version, group)
	}
	return adapters.Deployment{App: e.App, Version: su.Version, Group: *g, ControlPlane: e.ControlPlane, Token: e.Token, InvokeToken: e.InvokeToken}
}

// Dial connects to the control plane; the client is closed when t ends.
func (e Env) Dial(t testing.TB) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, e.ControlPlane, e.Token)
	if err != nil {
		t.Fatalf("adaptertest: dial control plane: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Upload uploads wasm as task's module.
func (e Env) Upload(t testing.TB, task string, wasm []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum := sha256.Sum256(wasm)
	if _, err := e.Dial(t).UploadModule(ctx, task, bytes.NewReader(wasm), "sha256:"+hex.EncodeToString(sum[:]), int64(len(wasm))); err != nil {
		t.Fatalf("adaptertest: upload %s: %v", task, err)
	}
}

// UploadFused uploads wasm as the fused module of tasks.
func (e Env) UploadFused(t testing.TB, tasks []string, wasm []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := os.CreateTemp(t.TempDir(), "fused-*.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(wasm); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Dial(t).UploadFusedModuleFile(ctx, tasks, f.Name()); err != nil {
		t.Fatalf("adaptertest: upload fused module of %v: %v", tasks, err)
	}
}

// UploadUnchecked stores wasm as task's module with Plant, past the
// control plane's upload check.
func (e Env) UploadUnchecked(t testing.TB, task string, wasm []byte) {
	t.Helper()
	if e.Plant == nil {
		t.Fatal("adaptertest: Env.Plant is required to store a module the upload check refuses")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.Plant(ctx, task, bytes.NewReader(wasm), "", 0); err != nil {
		t.Fatalf("adaptertest: plant %s: %v", task, err)
	}
}

// Apply applies a setup of groups (each at e.Place, or local, and 128 MB
// unless set) and returns it with its new version.
func (e Env) Apply(t testing.TB, groups ...setup.Group) *setup.Setup {
	t.Helper()
	su := &setup.Setup{}
	for _, g := range groups {
		if g.MemoryMB == 0 {
			g.MemoryMB = 128
		}
		if g.Place.Provider == "" {
			g.Place = e.Place
		}
		if g.Place.Provider == "" {
			g.Place.Provider = "local"
		}
		su.Groups = append(su.Groups, g)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := e.Dial(t).ApplySetup(ctx, su)
	if err != nil {
		t.Fatalf("adaptertest: apply setup: %v", err)
	}
	su.Version = v
	return su
}

// Module returns the embedded test module of task (one of Tasks).
func Module(t testing.TB, task string) []byte {
	t.Helper()
	b, err := modules.ReadFile("testdata/" + task + ".wasm")
	if err != nil {
		t.Fatalf("adaptertest: %v", err)
	}
	return b
}

// groups are the groups of Env.Setup and Env.Next.
var groups = []setup.Group{
	{Name: GroupCaller, Tasks: []string{"caller"}},
	{Name: GroupEcho, Tasks: []string{"echo"}},
	{Name: GroupLoop, Tasks: []string{"loop"}},
	{Name: GroupBad, Tasks: []string{"badabi"}},
}

// NewEnv starts a control plane in this process on 127.0.0.1 (free ports,
// data in t.TempDir()), uploads the modules of Tasks and applies Setup and
// Next. The control plane stops when t ends. It suits adapters whose hosts
// run on this machine; an adapter whose hosts run elsewhere builds its Env
// around a control plane they can reach, with the same groups.
func NewEnv(t testing.TB) Env {
	t.Helper()
	return NewEnvAt(t, setup.Place{Provider: "local"})
}

// NewEnvAt is NewEnv with the groups of Setup and Next at place (a cloud's
// provider and region, for an adapter deploying there).
func NewEnvAt(t testing.TB, place setup.Place) Env {
	t.Helper()
	cp, err := server.New(server.Options{
		DataDir: t.TempDir(), App: "adaptertest",
		Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		ShutdownTimeout: 2 * time.Second,
		Logger:          slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("adaptertest: control plane: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- cp.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("adaptertest: control plane: %v", err)
		}
	})
	e := Env{ControlPlane: cp.Addr(), Token: cp.Token(), InvokeToken: cp.InvokeToken(), App: "adaptertest", Place: place, Record: cp.Store().SetEndpoints, Plant: cp.Store().PutModule}
	for _, task := range Tasks {
		if task == BadTask {
			e.UploadUnchecked(t, task, Module(t, task))
			continue
		}
		e.Upload(t, task, Module(t, task))
	}
	e.Setup = e.Apply(t, groups...)
	e.Next = e.Apply(t, groups...)
	return e
}

func (e *Env) defaults() {
	if e.App == "" {
		e.App = "adaptertest"
	}
	if e.DeployTimeout <= 0 {
		e.DeployTimeout = 60 * time.Second
	}
	if len(e.DialOptions) == 0 {
		e.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
}

// record records the endpoints of eps for version, failing t without Record.
func (e Env) record(t *testing.T, version int64, eps ...adapters.Endpoint) {
	t.Helper()
	if e.Record == nil {
		t.Fatal("adaptertest: Env.Record is required to route between groups")
	}
	routes := api.Endpoints{}
	for _, ep := range eps {
		routes[ep.Group] = ep.Endpoint
	}
	if err := e.Record(version, routes); err != nil {
		t.Fatalf("adaptertest: record endpoints of setup version %d: %v", version, err)
	}
}

// transports returns the transports the suite reaches endpoints with: the
// gRPC one (for Health too) in a mux; both are closed when t ends.
func (e Env) transports(t *testing.T) (*grpctransport.Transport, *transport.Mux) {
	t.Helper()
	tr, err := grpctransport.NewTransport(grpctransport.Options{Insecure: true, InvokeToken: e.InvokeToken, DialOptions: e.DialOptions})
	if err != nil {
		t.Fatalf("adaptertest: grpc transport: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	mux := transport.NewMux()
	mux.Register(api.KindGRPC, tr)
	tls := https.New(https.Options{})
	t.Cleanup(func() { _ = tls.Close() })
	mux.Register(api.KindHTTPS, tls)
	mux.Register(api.KindLambda, lambdatransport.New(lambdatransport.Options{}))
	return tr, mux
}
