// Package adaptertest is the conformance suite of the adapters.Adapter
// contract: the one set of cases every adapter (local, and aws or gcp against
// their emulators) must pass, so that the deployer can rely on any of them
// alike.
//
// An adapter's package runs the suite from its tests with a constructor for
// fresh adapters and an Env: a control plane the adapter's hosts can reach,
// with the test modules uploaded and setups applied whose groups the cases
// deploy. NewEnv builds one in the test process:
//
//	func TestAdapter(t *testing.T) {
//		env := adaptertest.NewEnv(t)
//		env.Leftovers = func() []string { return listFunctions(t, emulator) } // optional
//		adaptertest.Run(t, func(t *testing.T) adapters.Adapter {
//			return aws.New(aws.Options{Endpoint: emulator.URL, Region: "us-east-1"})
//		}, env)
//	}
//
// A cloud adapter whose hosts run outside the test process (in an emulator's
// containers) needs a control plane they can reach: it starts one listening
// where they reach it, uploads the modules of Tasks (Module) and applies two
// setups of the groups GroupCaller, GroupEcho, GroupLoop and GroupBad
// (Env.Apply), and passes the Env with DeployTimeout and DialOptions to
// suit the platform, and Record, which records a setup version's endpoints
// as the deployer does. Slow suites belong behind a build tag (see "Why
// are slow suites behind build tags?" in RATIONALE.md).
//
// Every case gets a fresh adapter and closes it when it ends; the cases run
// one after another and check, each by its name:
//
// The suite reaches every group through the endpoint its adapter returned,
// with the host transport mux (host/transport), never by assuming a gRPC
// address.
//
//   - DeployServes: Deploy returns a valid endpoint of the group and
//     version that echoes an Invoke (and, for a grpc endpoint, answers
//     Health SERVING).
//   - DeployTwice: the same group and version again is ErrExists, and the
//     first stays up.
//   - DeployInvalid: no name, no tasks, version 0, memory 20000 MB are
//     ErrInvalid, and nothing is deployed.
//   - UnsupportedPlace: a place whose provider the adapter does not serve
//     is ErrInvalid, and nothing is deployed.
//   - TwoVersions: one group in two setup versions runs side by side.
//   - List: it shows the deployed endpoints and not the removed ones.
//   - Remove: the endpoint stops answering, List drops it, and a second
//     Remove is ErrNotFound.
//   - RemoveUnknown: ErrNotFound.
//   - Unhealthy: a group whose module cannot load fails with ErrUnhealthy
//     within DeployTimeout, twice in a row (nothing of the first attempt is
//     left to make the second ErrExists), and leaves nothing running.
//   - UnknownGroup: a group the setup does not have is ErrUnhealthy too.
//   - Close: removes every group; Deploy afterwards is ErrClosed.
//   - CrossGroupCall: caller in GroupCaller calls echo in GroupEcho through
//     the hosts' own routing, by the endpoints recorded for the version;
//     once GroupEcho is removed the call fails.
//   - RoutesIgnoreHeartbeats: with the registry's entry of GroupEcho's host
//     overwritten by a dead address (its heartbeat gone wrong), the cross
//     call still reaches it: routes come from the recorded endpoints only.
//   - FirstSpanIsCold: the first span of a new group reports a cold start.
//   - LoopDeadline: a call to loop, which never returns, ends at the
//     caller's deadline with CodeDeadline naming the task.
//   - ModuleFusedGroup: a module-fused group (GroupFused) of the tasks of
//     the fused module fusedpair (fa, fb) and echo loads that one module for
//     fa and fb, not the modules uploaded for each (loop's, which would
//     never answer), and echo's own module: all three echo.
package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// Run runs the conformance suite: each case as a subtest of t, with an
// adapter from newAdapter, which Run closes when the case ends.
func Run(t *testing.T, newAdapter func(t *testing.T) adapters.Adapter, env Env) {
	env.defaults()
	if env.Setup == nil || env.Next == nil {
		t.Fatal("adaptertest: Env.Setup and Env.Next are required (see NewEnv)")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newAdapter(t)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*env.DeployTimeout)
				defer cancel()
				if err := a.Close(ctx); err != nil && !errors.Is(err, adapters.ErrClosed) {
					t.Errorf("Close: %v", err)
				}
				env.checkLeftovers(t, "after Close")
			})
			s := &suite{a: a, env: env}
			s.grpc, s.mux = env.transports(t)
			c.run(t, s)
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, s *suite)
}{
	{"DeployServes", testDeployServes},
	{"DeployTwice", testDeployTwice},
	{"DeployInvalid", testDeployInvalid},
	{"TwoVersions", testTwoVersions},
	{"List", testList},
	{"Remove", testRemove},
	{"RemoveUnknown", testRemoveUnknown},
	{"Unhealthy", testUnhealthy},
	{"UnknownGroup", testUnknownGroup},
	{"Close", testClose},
	{"CrossGroupCall", testCrossGroupCall},
	{"UnsupportedPlace", testUnsupportedPlace},
	{"RoutesIgnoreHeartbeats", testRoutesIgnoreHeartbeats},
	{"FirstSpanIsCold", testFirstSpanIsCold},
	{"LoopDeadline", testLoopDeadline},
	{"ModuleFusedGroup", testModuleFusedGroup},
}

// suite is one case's adapter and environment, and the transports that
// reach what it deploys.
type suite struct {
	a    adapters.Adapter
	env  Env
	grpc *grpctransport.Transport
	mux  *transport.Mux
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.env.DeployTimeout)
	t.Cleanup(cancel)
	return ctx
}

// deploy deploys group of Env.Setup (or of Next) and fails t on error.
func (s *suite) deploy(t *testing.T, next bool, group string) adapters.Endpoint {
	t.Helper()
	su := s.env.Setup
	if next {
		su = s.env.Next
	}
	d := s.env.Deployment(t, su, group)
	start := time.Now()
	ep, err := s.a.Deploy(s.ctx(t), d)
	if err != nil {
		t.Fatalf("Deploy %s: %v", d.ID(), err)
	}
	t.Logf("deployed %s in %s at %v", d.ID(), time.Since(start).Round(time.Millisecond), ep.Endpoint)
	if ep.Group != d.Group.Name || ep.Version != d.Version {
		t.Errorf("Deploy %s: endpoint of %s", d.ID(), adapters.ID(ep.Group, ep.Version))
	}
	if ep.Provider != adapters.Provider(d.Group.Place) {
		t.Errorf("Deploy %s: endpoint provider %q, place %s", d.ID(), ep.Provider, d.Group.Place)
	}
	if err := ep.Endpoint.Validate(); err != nil {
		t.Errorf("Deploy %s: %v", d.ID(), err)
	}
	return ep
}

// invoke calls task through ep's endpoint, with the transport of its kind.
func (s *suite) invoke(t *testing.T, ep adapters.Endpoint, task string, in []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.invokeCtx(ctx, ep, task, in)
}

func (s *suite) invokeCtx(ctx context.Context, ep adapters.Endpoint, task string, in []byte) ([]byte, error) {
	return s.mux.Invoke(ctx, host.Target{Group: ep.Group, Endpoint: ep.Endpoint}, host.Call{Task: task, Input: in})
}

// healthErr returns nil when ep serves: Health SERVING for a grpc
// endpoint, an echo for any other kind.
func (s *suite) healthErr(t *testing.T, ep adapters.Endpoint) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ep.Endpoint.Kind != api.KindGRPC {
		_, err := s.invokeCtx(ctx, ep, "echo", nil)
		return err
	}
	st, err := s.grpc.Health(ctx, ep.Endpoint.Address)
	if err != nil {
		return err
	}
	if st != fusionizev1.ServingStatus_SERVING_STATUS_SERVING {
		return fmt.Errorf("status %s", st)
	}
	return nil
}

// mustServe checks that ep is healthy and echoes through task echo (or,
// for the caller group, through caller → echo).
func (s *suite) mustServe(t *testing.T, ep adapters.Endpoint, task string) {
	t.Helper()
	if err := s.healthErr(t, ep); err != nil {
		t.Fatalf("Health of %s at %v: %v", adapters.ID(ep.Group, ep.Version), ep.Endpoint, err)
	}
	in := []byte("hello from " + t.Name())
	out, err := s.invoke(t, ep, task, in)
	if err != nil {
		t.Fatalf("Invoke %s at %v: %v", task, ep.Endpoint, err)
	}
	if string(out) != string(in) {
		t.Fatalf("Invoke %s at %v = %q, want %q", task, ep.Endpoint, out, in)
	}
}

// mustBeDown checks that ep no longer answers Health.
func (s *suite) mustBeDown(t *testing.T, ep adapters.Endpoint) {
	t.Helper()
	err := s.healthErr(t, ep)
	if err == nil {
		t.Fatalf("%s at %v still serves", adapters.ID(ep.Group, ep.Version), ep.Endpoint)
	}
	t.Logf("%s at %v after removal: %v (code %d)", adapters.ID(ep.Group, ep.Version), ep.Endpoint, err, host.CodeOf(err))
}

// list returns the IDs and addresses List reports, sorted.
func (s *suite) list(t *testing.T) []string {
	t.Helper()
	eps, err := s.a.List(s.ctx(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = adapters.ID(ep.Group, ep.Version) + " " + ep.Endpoint.String()
	}
	slices.Sort(out)
	return out
}

func listed(eps ...adapters.Endpoint) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = adapters.ID(ep.Group, ep.Version) + " " + ep.Endpoint.String()
	}
	slices.Sort(out)
	return out
}

func (s *suite) mustList(t *testing.T, want ...adapters.Endpoint) {
	t.Helper()
	if got, w := s.list(t), listed(want...); !slices.Equal(got, w) {
		t.Fatalf("List = %q, want %q", got, w)
	}
}

func (e Env) checkLeftovers(t *testing.T, when string) {
	t.Helper()
	if e.Leftovers == nil {
		return
	}
	// What stops asynchronously gets a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := e.Leftovers()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s, still running:\n%s", when, strings.Join(left, "\n"))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testDeployServes(t *testing.T, s *suite) {
	ep := s.deploy(t, false, GroupEcho)
	s.mustServe(t, ep, "echo")
}

func testDeployTwice(t *testing.T, s *suite) {
	ep := s.deploy(t, false, GroupEcho)
	d := s.env.Deployment(t, s.env.Setup, GroupEcho)
	_, err := s.a.Deploy(s.ctx(t), d)
	if !errors.Is(err, adapters.ErrExists) {
		t.Fatalf("second Deploy %s: %v, want ErrExists", d.ID(), err)
	}
	t.Logf("second Deploy: %v", err)
	s.mustServe(t, ep, "echo")
	s.mustList(t, ep)
}

func testDeployInvalid(t *testing.T, s *suite) {
	valid := s.env.Deployment(t, s.env.Setup, GroupEcho)
	for _, c := range []struct {
		name   string
		mutate func(d *adapters.Deployment)
	}{
		{"NoName", func(d *adapters.Deployment) { d.Group.Name = "" }},
		{"NoTasks", func(d *adapters.Deployment) { d.Group.Tasks = nil }},
		{"Version0", func(d *adapters.Deployment) { d.Version = 0 }},
		{"NegativeVersion", func(d *adapters.Deployment) { d.Version = -1 }},
		{"Memory20000", func(d *adapters.Deployment) { d.Group.MemoryMB = 20000 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := valid
			d.Group.Tasks = slices.Clone(valid.Group.Tasks)
			c.mutate(&d)
			_, err := s.a.Deploy(s.ctx(t), d)
			if !errors.Is(err, adapters.ErrInvalid) {
				t.Fatalf("Deploy: %v, want ErrInvalid", err)
			}
		})
	}
	s.mustList(t)
}

func testTwoVersions(t *testing.T, s *suite) {
	v1 := s.deploy(t, false, GroupEcho)
	v2 := s.deploy(t, true, GroupEcho)
	if v1.Endpoint == v2.Endpoint {
		t.Fatalf("%s and %s share the endpoint %v", adapters.ID(v1.Group, v1.Version), adapters.ID(v2.Group, v2.Version), v1.Endpoint)
	}
	s.mustServe(t, v1, "echo")
	s.mustServe(t, v2, "echo")
	s.mustList(t, v1, v2)
	if err := s.a.Remove(s.ctx(t), v1.Group, v1.Version); err != nil {
		t.Fatalf("Remove %s: %v", adapters.ID(v1.Group, v1.Version), err)
	}
	s.mustServe(t, v2, "echo")
	s.mustList(t, v2)
}

func testList(t *testing.T, s *suite) {
	s.mustList(t)
	b := s.deploy(t, false, GroupEcho)
	s.mustList(t, b)
	a := s.deploy(t, false, GroupCaller)
	s.mustList(t, a, b)
	if err := s.a.Remove(s.ctx(t), b.Group, b.Version); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	s.mustList(t, a)
}

func testRemove(t *testing.T, s *suite) {
	ep := s.deploy(t, false, GroupEcho)
	s.mustServe(t, ep, "echo")
	start := time.Now()
	if err := s.a.Remove(s.ctx(t), ep.Group, ep.Version); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	t.Logf("removed in %s", time.Since(start).Round(time.Millisecond))
	s.mustBeDown(t, ep)
	s.mustList(t)
	if err := s.a.Remove(s.ctx(t), ep.Group, ep.Version); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("second Remove: %v, want ErrNotFound", err)
	}
}

func testRemoveUnknown(t *testing.T, s *suite) {
	err := s.a.Remove(s.ctx(t), "no-such-group", s.env.Setup.Version)
	if !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("Remove: %v, want ErrNotFound", err)
	}
}

// mustBeUnhealthy deploys d twice, expecting ErrUnhealthy both times within
// DeployTimeout, and checks nothing is left.
func (s *suite) mustBeUnhealthy(t *testing.T, d adapters.Deployment) {
	t.Helper()
	for attempt := 1; attempt <= 2; attempt++ {
		start := time.Now()
		ep, err := s.a.Deploy(s.ctx(t), d)
		took := time.Since(start)
		if !errors.Is(err, adapters.ErrUnhealthy) {
			t.Fatalf("Deploy %s (attempt %d): endpoint %+v, error %v; want ErrUnhealthy", d.ID(), attempt, ep, err)
		}
		if took > s.env.DeployTimeout {
			t.Errorf("Deploy %s took %s, beyond DeployTimeout %s", d.ID(), took, s.env.DeployTimeout)
		}
		t.Logf("Deploy %s (attempt %d) after %s: %v", d.ID(), attempt, took.Round(time.Millisecond), err)
		s.mustList(t)
		s.env.checkLeftovers(t, "after a failed Deploy")
	}
}

func testUnhealthy(t *testing.T, s *suite) {
	s.mustBeUnhealthy(t, s.env.Deployment(t, s.env.Setup, GroupBad))
}

func testUnknownGroup(t *testing.T, s *suite) {
	d := s.env.Deployment(t, s.env.Setup, GroupEcho)
	d.Group.Name = "not-in-the-setup"
	s.mustBeUnhealthy(t, d)
}

func testClose(t *testing.T, s *suite) {
	a := s.deploy(t, false, GroupCaller)
	b := s.deploy(t, false, GroupEcho)
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.env.DeployTimeout)
	defer cancel()
	if err := s.a.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s.mustBeDown(t, a)
	s.mustBeDown(t, b)
	s.env.checkLeftovers(t, "after Close")
	if _, err := s.a.Deploy(s.ctx(t), s.env.Deployment(t, s.env.Setup, GroupEcho)); !errors.Is(err, adapters.ErrClosed) {
		t.Fatalf("Deploy after Close: %v, want ErrClosed", err)
	}
	if eps, err := s.a.List(s.ctx(t)); err == nil && len(eps) > 0 {
		t.Fatalf("List after Close = %+v", eps)
	}
}

func testCrossGroupCall(t *testing.T, s *suite) {
	a, b := s.deployPair(t)
	// caller is in group a, echo in group b: the call crosses hosts.
	s.mustServe(t, a, "caller")
	s.mustServe(t, b, "echo")
	// With group b gone the call has nowhere to go: that it worked before
	// proves it left a's host.
	if err := s.a.Remove(s.ctx(t), b.Group, b.Version); err != nil {
		t.Fatalf("Remove %s: %v", b.Group, err)
	}
	out, err := s.invoke(t, a, "caller", []byte("after removal"))
	if err == nil {
		t.Fatalf("caller with group %s removed = %q, want an error", b.Group, out)
	}
	t.Logf("caller with group %s removed: %v", b.Group, err)
}

func testUnsupportedPlace(t *testing.T, s *suite) {
	d := s.env.Deployment(t, s.env.Setup, GroupEcho)
	d.Group.Place = setup.Place{Provider: "no-such-cloud", Region: "nowhere-1"}
	if _, err := s.a.Deploy(s.ctx(t), d); !errors.Is(err, adapters.ErrInvalid) {
		t.Fatalf("Deploy at %s: %v, want ErrInvalid", d.Group.Place, err)
	}
	s.mustList(t)
}

// deployPair deploys GroupEcho and GroupCaller of Env.Setup and records
// their endpoints, as the deployer does. (The suite deploys one version
// over and over, so it records b's endpoint before a starts: a must not
// find the endpoints of an earlier case.)
func (s *suite) deployPair(t *testing.T) (a, b adapters.Endpoint) {
	t.Helper()
	b = s.deploy(t, false, GroupEcho)
	s.env.record(t, s.env.Setup.Version, b)
	a = s.deploy(t, false, GroupCaller)
	s.env.record(t, s.env.Setup.Version, a, b)
	return a, b
}

func testRoutesIgnoreHeartbeats(t *testing.T, s *suite) {
	a, b := s.deployPair(t)
	// The registry now says group b's host is somewhere nobody listens.
	dead := api.HostInfo{Name: adapters.ID(b.Group, b.Version), Group: b.Group, Address: "127.0.0.1:1", SetupVersion: b.Version}
	if _, err := s.env.Dial(t).RegisterHost(s.ctx(t), dead); err != nil {
		t.Fatalf("RegisterHost: %v", err)
	}
	s.mustServe(t, a, "caller")
}

func testFirstSpanIsCold(t *testing.T, s *suite) {
	began := time.Now()
	ep := s.deploy(t, true, GroupEcho)
	s.mustServe(t, ep, "echo")
	// Hosts report spans in batches: wait for the first.
	cp := s.env.Dial(t)
	deadline := time.Now().Add(s.env.DeployTimeout)
	for {
		spans, err := cp.Spans(s.ctx(t), ep.Version, 0)
		if err != nil {
			t.Fatalf("Spans: %v", err)
		}
		// The earliest of its spans: an endpoint without a health check
		// is checked with an echo, which comes first.
		var first *span.Span
		for i, sp := range spans {
			if sp.Task == "echo" && sp.Group == ep.Group && sp.Caller == "" && sp.Start.After(began) && (first == nil || sp.Start.Before(first.Start)) {
				first = &spans[i]
			}
		}
		if first != nil {
			if !first.Cold {
				t.Fatalf("first span of %s is not cold: %+v", adapters.ID(ep.Group, ep.Version), *first)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span of %s within %s", adapters.ID(ep.Group, ep.Version), s.env.DeployTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testLoopDeadline(t *testing.T, s *suite) {
	ep := s.deploy(t, false, GroupLoop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	out, err := s.invokeCtx(ctx, ep, "loop", nil)
	if host.CodeOf(err) != host.CodeDeadline || !strings.Contains(err.Error(), `"loop"`) {
		t.Fatalf("loop = %q, %v (code %d); want CodeDeadline naming the task", out, err, host.CodeOf(err))
	}
	t.Logf("loop: %v", err)
}

func testModuleFusedGroup(t *testing.T, s *suite) {
	// Each task of a setup has a module of its own, as `fusionize up`
	// uploads them; loop's never answers, so a host that loaded these
	// instead of the fused module would fail the invokes below.
	for _, task := range FusedTasks {
		s.env.Upload(t, task, Module(t, "loop"))
	}
	s.env.UploadFused(t, FusedTasks, Module(t, FusedModule))
	su := s.env.Apply(t, setup.Group{Name: GroupFused, Tasks: append([]string{"echo"}, FusedTasks...), MemoryMB: 256, Fusion: setup.FusionModule})
	d := s.env.Deployment(t, su, GroupFused)
	ep, err := s.a.Deploy(s.ctx(t), d)
	if err != nil {
		t.Fatalf("Deploy %s: %v", d.ID(), err)
	}
	for _, task := range append([]string{"echo"}, FusedTasks...) {
		in := []byte("module-fused " + task)
		out, err := s.invoke(t, ep, task, in)
		if err != nil || string(out) != string(in) {
			t.Errorf("invoke %s of module-fused %s: %q, %v; want its input back", task, d.ID(), out, err)
		}
	}
}
