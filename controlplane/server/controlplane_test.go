package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/controlplane/client"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/controlplane/store"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// testCP is a control plane served on loopback ports for one test.
type testCP struct {
	*ControlPlane
	dir  string
	stop func() // cancels Serve and waits for it; idempotent
}

func startCP(t testing.TB, dir string, mod ...func(*Options)) *testCP {
	t.Helper()
	opts := Options{
		DataDir:  dir,
		App:      "testapp",
		Addr:     "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0",
		Store:    store.Options{NoSync: true},
		Logger:   slog.New(slog.DiscardHandler),
	}
	for _, m := range mod {
		m(&opts)
	}
	cp, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Serve(ctx) }()
	stopped := false
	var serveErr error
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			serveErr = <-done
			if serveErr != nil {
				t.Errorf("Serve: %v", serveErr)
			}
		}
	}
	t.Cleanup(stop)
	return &testCP{ControlPlane: cp, dir: dir, stop: stop}
}

func dial(t *testing.T, cp *testCP) *client.Client {
	t.Helper()
	c, err := client.Dial(t.Context(), cp.Addr(), cp.Token())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got code %v (err %v), want %v", got, err, want)
	}
}

func TestAuthRequiresTheToken(t *testing.T) {
	cp := startCP(t, t.TempDir())
	conn, err := grpc.NewClient(cp.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	api := fusionizev1.NewControlPlaneServiceClient(conn)
	tokenPath := filepath.Join(cp.dir, "token")

	for _, tc := range []struct {
		name   string
		header string // "" sends none
		want   codes.Code
		msg    string
	}{
		{"no token", "", codes.Unauthenticated, "missing bearer token: read it from " + tokenPath},
		{"wrong token", "Bearer " + strings.Repeat("0", 64), codes.Unauthenticated, "invalid bearer token"},
		{"not bearer", "Basic " + cp.Token(), codes.Unauthenticated, "not a bearer token"},
		{"right token", "Bearer " + cp.Token(), codes.OK, ""},
		{"scheme case-insensitive", "bearer " + cp.Token(), codes.OK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []grpc.CallOption
			if tc.header != "" {
				opts = append(opts, grpc.PerRPCCredentials(rawAuth(tc.header)))
			}
			resp, err := api.Status(t.Context(), &fusionizev1.StatusRequest{}, opts...)
			wantCode(t, err, tc.want)
			if tc.msg != "" && !strings.Contains(status.Convert(err).Message(), tc.msg) {
				t.Errorf("message %q does not contain %q", status.Convert(err).Message(), tc.msg)
			}
			if tc.want == codes.OK && resp.GetApp() != "testapp" {
				t.Errorf("app = %q", resp.GetApp())
			}
			// Streams are guarded too.
			ws, err := api.WatchSetup(t.Context(), &fusionizev1.WatchSetupRequest{}, opts...)
			if err == nil && tc.want != codes.OK {
				_, err = ws.Recv()
				wantCode(t, err, tc.want)
			}
		})
	}

	// Health is open: probes carry no token.
	hc, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: fusionizev1.ControlPlaneService_ServiceDesc.ServiceName})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", hc, err)
	}
}

type rawAuth string

func (a rawAuth) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": string(a)}, nil
}
func (rawAuth) RequireTransportSecurity() bool { return false }

func TestUploadWithWrongDigestStoresNothing(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	body := randomBytes(t, 300<<10)
	other := digestOf([]byte("something else"))

	_, err := c.UploadModule(t.Context(), "resize", bytes.NewReader(body), other, int64(len(body)))
	wantCode(t, err, codes.InvalidArgument)
	msg := status.Convert(errors.Unwrap(err)).Message()
	for _, want := range []string{`"resize"`, other, digestOf(body)} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %s", msg, want)
		}
	}
	mods, err := c.Modules(t.Context())
	if err != nil || len(mods) != 0 {
		t.Fatalf("modules after failed upload: %v, %v", mods, err)
	}
	files, _ := os.ReadDir(filepath.Join(cp.dir, "modules", "sha256"))
	if len(files) != 0 {
		t.Fatalf("module directory holds %d files after a failed upload", len(files))
	}
}

func TestUploadRejectsMalformedStreams(t *testing.T) {
	cp := startCP(t, t.TempDir(), func(o *Options) { o.MaxModuleSize = 1 << 20 })
	c := dial(t, cp)
	body := randomBytes(t, 10)
	for _, tc := range []struct {
		name   string
		task   string
		digest string
		size   int64
		body   []byte
		want   codes.Code
	}{
		{"no task", "", digestOf(body), 10, body, codes.InvalidArgument},
		{"no digest", "A", "", 10, body, codes.InvalidArgument},
		{"bad digest", "A", "sha256:XYZ", 10, body, codes.InvalidArgument},
		{"size says fewer", "A", digestOf(body), 5, body, codes.InvalidArgument},
		{"size says more", "A", digestOf(body), 11, body, codes.InvalidArgument},
		{"announced too large", "A", digestOf(body), 2 << 20, body, codes.ResourceExhausted},
		{"too large", "A", digestOf(nil), 0, make([]byte, 1<<20+1), codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.UploadModule(t.Context(), tc.task, bytes.NewReader(tc.body), tc.digest, tc.size)
			wantCode(t, err, tc.want)
		})
	}
	// A chunk before the header.
	stream, err := c.API().UploadModule(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&fusionizev1.UploadModuleRequest{Payload: &fusionizev1.UploadModuleRequest_Chunk{Chunk: body}})
	_, err = stream.CloseAndRecv()
	wantCode(t, err, codes.InvalidArgument)
}

func TestUploadThenFetchRoundTrips(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	body := paddedModule(t, 2*client.ChunkSize+1234) // two full chunks and a partial one
	path := filepath.Join(t.TempDir(), "A.wasm")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := c.UploadModuleFile(t.Context(), "A", path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Task != "A" || info.Digest != digestOf(body) || info.Size != int64(len(body)) || info.UploadedAt.IsZero() {
		t.Fatalf("info = %+v", info)
	}
	got, err := c.FetchModule(t.Context(), info.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatal("fetched bytes differ from uploaded ones")
	}
	mods, err := c.Modules(t.Context())
	if err != nil || len(mods) != 1 || mods[0].Digest != info.Digest {
		t.Fatalf("modules = %v, %v", mods, err)
	}

	// An empty module is no module: refused, naming the task.
	_, err = c.UploadModule(t.Context(), "E", bytes.NewReader(nil), digestOf(nil), 0)
	wantRefused(t, err, "module of task E", "too short")

	_, err = c.FetchModule(t.Context(), digestOf([]byte("never uploaded")))
	wantCode(t, err, codes.NotFound)
	_, err = c.FetchModule(t.Context(), "sha256:nothex")
	wantCode(t, err, codes.InvalidArgument)
}

func TestFetchModuleVerifiesTheDigest(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	info, err := c.UploadModuleFile(t.Context(), "A", echoWasm)
	if err != nil {
		t.Fatal(err)
	}
	// Damage the stored file behind the store's back.
	file := filepath.Join(cp.dir, "modules", "sha256", strings.TrimPrefix(info.Digest, "sha256:"))
	if err := os.WriteFile(file, []byte("\x00asm\x01\x00\x00\x01"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = c.FetchModule(t.Context(), info.Digest)
	if !errors.Is(err, client.ErrModuleMismatch) || !strings.Contains(err.Error(), info.Digest) {
		t.Fatalf("err = %v, want client.ErrModuleMismatch naming %s", err, info.Digest)
	}
}

func testSetup(tasks ...string) *setup.Setup {
	return setup.Separate(0, tasks, setup.Place{Provider: "local"}, 128)
}

func TestSetupLifecycle(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)

	_, err := c.Setup(t.Context(), 0)
	wantCode(t, err, codes.NotFound)
	if !strings.Contains(err.Error(), "no setup applied yet") {
		t.Errorf("err = %v", err)
	}

	_, err = c.ApplySetup(t.Context(), &setup.Setup{Groups: []setup.Group{{Name: "g", Tasks: []string{"A"}}, {Name: "h", Tasks: []string{"A"}}}})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.API().ApplySetup(t.Context(), &fusionizev1.ApplySetupRequest{})
	wantCode(t, err, codes.InvalidArgument)

	v, err := c.ApplySetup(t.Context(), testSetup("A", "B"))
	if err != nil || v != 1 {
		t.Fatalf("apply: %d, %v", v, err)
	}
	su, err := c.Setup(t.Context(), 0)
	if err != nil || su.Version != 1 || su.Partition() != "(A) (B)" {
		t.Fatalf("setup: %+v, %v", su, err)
	}
	_, err = c.Setup(t.Context(), 7)
	wantCode(t, err, codes.NotFound)

	// Once modules exist, every task of a setup needs one.
	for _, task := range []string{"A", "B"} {
		if _, err := c.UploadModuleFile(t.Context(), task, echoWasm); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.ApplySetup(t.Context(), testSetup("A", "B", "C"))
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), `"C"`) {
		t.Errorf("err = %v, want it to name task C", err)
	}
	if v, err := c.ApplySetup(t.Context(), setup.Fused(0, "AB", []string{"A", "B"}, setup.Place{Provider: "local"}, 128)); err != nil || v != 2 {
		t.Fatalf("apply: %d, %v", v, err)
	}

	groups, err := c.API().ListGroups(t.Context(), &fusionizev1.ListGroupsRequest{})
	if err != nil || groups.GetSetupVersion() != 2 || len(groups.GetGroups()) != 1 || groups.GetGroups()[0].GetName() != "AB" {
		t.Fatalf("groups: %v, %v", groups, err)
	}
}

func TestWatchSetupReceivesAppliedSetups(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	if _, err := c.ApplySetup(t.Context(), testSetup("A")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	setups, errc := c.WatchSetup(ctx, 0)

	next := func() *setup.Setup {
		t.Helper()
		select {
		case su, ok := <-setups:
			if !ok {
				t.Fatalf("watch ended: %v", <-errc)
			}
			return su
		case <-time.After(5 * time.Second):
			t.Fatal("no setup within 5s")
			return nil
		}
	}
	if su := next(); su.Version != 1 {
		t.Fatalf("first setup has version %d, want the current one, 1", su.Version)
	}
	if _, err := c.ApplySetup(t.Context(), testSetup("A", "B")); err != nil {
		t.Fatal(err)
	}
	if su := next(); su.Version != 2 || su.Partition() != "(A) (B)" {
		t.Fatalf("second setup = %+v", su)
	}
	cancel()
	for range setups {
	}
	if err := <-errc; err != nil {
		t.Fatalf("watch ended by ctx reported %v", err)
	}
}

func TestStopEndsWatchStreams(t *testing.T) {
	cp := startCP(t, t.TempDir(), func(o *Options) { o.ShutdownTimeout = time.Minute })
	c := dial(t, cp)
	setups, errc := c.WatchSetup(t.Context(), 0)
	// Make sure the stream is established before stopping.
	if _, err := c.ApplySetup(t.Context(), testSetup("A")); err != nil {
		t.Fatal(err)
	}
	<-setups
	start := time.Now()
	cp.stop()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stop took %s: the watch held up the graceful stop", d)
	}
	for range setups {
	}
	err := <-errc
	if status.Code(errors.Unwrap(errors.Unwrap(err))) != codes.Unavailable && status.Code(err) != codes.Unavailable {
		t.Fatalf("watch ended with %v, want Unavailable", err)
	}
}

func validSpan0(task string, v int64) span.Span {
	return span.Span{TraceID: "t1", ID: 1, Task: task, Group: "g", SetupVersion: v,
		Start: time.Unix(1700000000, 0), Duration: 10 * time.Millisecond, Wait: 2 * time.Millisecond, Billed: 11 * time.Millisecond, MemoryMB: 128}
}

func TestReportSpansRejectsBadSpans(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	bad := func(f func(*span.Span)) span.Span { s := validSpan0("A", 1); f(&s); return s }
	batch := []span.Span{
		validSpan0("A", 1),
		validSpan0("B", 1),
		bad(func(s *span.Span) { s.Task = "" }),
		bad(func(s *span.Span) { s.Duration = -time.Millisecond }),
		bad(func(s *span.Span) { s.Wait = -time.Millisecond }),
		bad(func(s *span.Span) { s.Duration, s.Wait = 15*time.Minute, 0 }),
		bad(func(s *span.Span) { s.Wait = s.Duration + 1 }),
	}
	acc, rej, err := c.ReportSpans(t.Context(), "host-1", batch)
	if err != nil || acc != 2 || rej != 5 {
		t.Fatalf("report: accepted %d, rejected %d, %v; want 2, 5", acc, rej, err)
	}
	got, err := c.Spans(t.Context(), 1, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("spans: %v, %v", got, err)
	}
	for _, s := range got {
		if s.Host != "host-1" {
			t.Errorf("span of %s has host %q, want the reporter's", s.Task, s.Host)
		}
	}
	st, err := c.Status(t.Context())
	if err != nil || st.Spans != 2 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	// The rejections are exported as a metric.
	resp, err := http.Get("http://" + cp.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"fusionize_controlplane_spans_rejected_total 5", "fusionize_controlplane_spans_accepted_total 2"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestQuerySpansNewestFirst(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	reportSpans(t, c, 2, 5, 10)
	ids := func(ss []span.Span) []uint64 {
		var out []uint64
		for _, s := range ss {
			out = append(out, s.ID)
		}
		return out
	}
	for _, tc := range []struct {
		version int64
		limit   int
		want    []uint64
	}{
		{1, 0, []uint64{14, 13, 12, 11, 10}},
		{1, 2, []uint64{14, 13}},
		{2, 3, []uint64{24, 23, 22}},
		{0, 6, []uint64{24, 23, 22, 21, 20, 14}},
		{3, 0, nil},
	} {
		got, err := c.Spans(t.Context(), tc.version, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("version %d limit %d: ids %v, want %v", tc.version, tc.limit, ids(got), tc.want)
		}
	}
}

func TestHostsRegisterAndExpire(t *testing.T) {
	cp := startCP(t, t.TempDir(), func(o *Options) { o.HostTTL = time.Hour })
	c := dial(t, cp)
	if _, err := c.ApplySetup(t.Context(), testSetup("A")); err != nil {
		t.Fatal(err)
	}
	v, err := c.RegisterHost(t.Context(), api.HostInfo{Name: "h1", Group: "A", Address: "127.0.0.1:9000", Tasks: []string{"A"}, MetricsAddress: "127.0.0.1:9001"})
	if err != nil || v != 1 {
		t.Fatalf("register: %d, %v", v, err)
	}
	_, err = c.RegisterHost(t.Context(), api.HostInfo{})
	wantCode(t, err, codes.InvalidArgument)
	// A host last seen long ago is not live.
	cp.Store().SeeHost(api.HostInfo{Name: "old", LastSeen: time.Now().Add(-2 * time.Hour)})
	hosts, err := c.Hosts(t.Context())
	want := []api.HostInfo{{Name: "h1", Group: "A", Address: "127.0.0.1:9000", Tasks: []string{"A"}, MetricsAddress: "127.0.0.1:9001"}}
	if err != nil || !reflect.DeepEqual(hosts, want) {
		t.Fatalf("hosts = %+v, %v", hosts, err)
	}
	st, err := c.Status(t.Context())
	if err != nil || st.Hosts != 1 || st.SetupVersion != 1 || st.App != "testapp" {
		t.Fatalf("status = %+v, %v", st, err)
	}
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	cp := startCP(t, dir)
	c := dial(t, cp)
	body := paddedModule(t, 1000)
	info, err := c.UploadModule(t.Context(), "A", bytes.NewReader(body), digestOf(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplySetup(t.Context(), testSetup("A")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReportSpans(t.Context(), "h", []span.Span{validSpan0("A", 1), validSpan0("A", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := cp.Store().AppendIteration(api.Iteration{Index: 0, Setup: testSetup("A"), Decision: "baseline", P50Ms: 12}); err != nil {
		t.Fatal(err)
	}
	token := cp.Token()
	cp.stop()

	cp2 := startCP(t, dir)
	if cp2.Token() != token {
		t.Fatal("token changed across a restart")
	}
	c2 := dial(t, cp2)
	su, err := c2.Setup(t.Context(), 0)
	if err != nil || su.Version != 1 || su.Partition() != "(A)" {
		t.Fatalf("setup after restart: %+v, %v", su, err)
	}
	got, err := c2.FetchModule(t.Context(), info.Digest)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("module after restart: %v", err)
	}
	spans, err := c2.Spans(t.Context(), 1, 0)
	if err != nil || len(spans) != 2 {
		t.Fatalf("spans after restart: %d, %v", len(spans), err)
	}
	its, err := c2.Iterations(t.Context())
	if err != nil || len(its) != 1 || its[0].Decision != "baseline" || its[0].Setup.Partition() != "(A)" {
		t.Fatalf("iterations after restart: %+v, %v", its, err)
	}
	st, err := c2.Status(t.Context())
	if err != nil || st.Modules != 1 || st.Spans != 2 || st.SetupVersion != 1 {
		t.Fatalf("status after restart: %+v, %v", st, err)
	}
}

func TestReflectionListsServicesWithoutToken(t *testing.T) {
	cp := startCP(t, t.TempDir())
	conn, err := grpc.NewClient(cp.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"fusionize.v1.ControlPlaneService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	// grpcurl describe: the file holding the service resolves.
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "fusionize.v1.ControlPlaneService"},
	}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("file containing symbol: %v, %v", resp, err)
	}
	stream.CloseSend()
}

func TestRESTGateway(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	if _, err := c.ApplySetup(t.Context(), testSetup("A", "B")); err != nil {
		t.Fatal(err)
	}
	base := "http://" + cp.HTTPAddr()
	get := func(path, auth string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &m); err != nil && path != "/healthz" {
			t.Fatalf("GET %s: %d %q: %v", path, resp.StatusCode, body, err)
		}
		return resp.StatusCode, m
	}
	bearer := "Bearer " + cp.Token()

	code, m := get("/v1/status", bearer)
	if code != 200 || m["app"] != "testapp" || m["setupVersion"] != "1" {
		t.Fatalf("GET /v1/status: %d %v", code, m)
	}
	code, m = get("/v1/setup", bearer)
	groups, _ := m["setup"].(map[string]any)["groups"].([]any)
	if code != 200 || len(groups) != 2 {
		t.Fatalf("GET /v1/setup: %d %v", code, m)
	}
	code, m = get("/v1/setup?version=9", bearer)
	if code != 404 {
		t.Fatalf("GET /v1/setup?version=9: %d %v", code, m)
	}
	for _, auth := range []string{"", "Bearer wrong"} {
		code, m = get("/v1/status", auth)
		if code != http.StatusUnauthorized {
			t.Fatalf("GET /v1/status with %q: %d %v, want 401", auth, code, m)
		}
		if auth == "" && !strings.Contains(m["message"].(string), "missing bearer token") {
			t.Errorf("401 message = %v", m["message"])
		}
	}
	// Writes go through the gateway too: POST /v1/setup takes the Setup.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/setup",
		strings.NewReader(`{"groups":[{"name":"AB","tasks":["A","B"],"memoryMb":256,"place":{"provider":"local"}}]}`))
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"version":"2"`) {
		t.Fatalf("POST /v1/setup: %d %s", resp.StatusCode, body)
	}
	if su, err := c.Setup(t.Context(), 0); err != nil || su.Partition() != "(A,B)" || su.Groups[0].MemoryMB != 256 {
		t.Fatalf("setup applied over REST: %+v, %v", su, err)
	}
	if code, _ := get("/healthz", ""); code != 200 {
		t.Fatalf("GET /healthz: %d", code)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without DataDir succeeded")
	}
	if _, err := New(Options{DataDir: t.TempDir(), TLSCertFile: "cert.pem"}); err == nil {
		t.Error("New with a certificate but no key succeeded")
	}
	// A second control plane on the same data directory fails fast and
	// leaves the first one working.
	cp := startCP(t, t.TempDir())
	_, err := New(Options{DataDir: cp.dir, Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Store: store.Options{LockTimeout: 50 * time.Millisecond}})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second New: %v, want ErrLocked", err)
	}
	if _, err := dial(t, cp).Status(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestDialRefusesPlaintextToRemote(t *testing.T) {
	if _, err := client.Dial(t.Context(), "10.1.2.3:7070", "tok"); err == nil {
		t.Fatal("plaintext dial to a non-loopback address succeeded")
	}
	c, err := client.Dial(t.Context(), "10.1.2.3:7070", "tok", client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestQuerySpansPagesThroughEverySpan follows next_page_token: every span
// of the window comes exactly once, newest first, and none is cut off.
func TestQuerySpansPagesThroughEverySpan(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	reportSpans(t, c, 3, 7, 100)
	for _, version := range []int64{0, 2} {
		var ids []uint64
		token, pages := "", 0
		for {
			resp, err := c.API().QuerySpans(t.Context(), &fusionizev1.QuerySpansRequest{SetupVersion: version, Limit: 3, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(resp.GetSpans()) > 3 {
				t.Fatalf("page of %d spans, limit 3", len(resp.GetSpans()))
			}
			for _, p := range resp.GetSpans() {
				ids = append(ids, p.GetId())
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		var want []uint64
		for v := int64(3); v >= 1; v-- {
			if version != 0 && v != version {
				continue
			}
			for i := 6; i >= 0; i-- {
				want = append(want, uint64(v*100+int64(i)))
			}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("version %d: %d pages, ids %v, want %v", version, pages, ids, want)
		}
		all, err := c.AllSpans(t.Context(), version)
		if err != nil || len(all) != len(want) {
			t.Errorf("AllSpans(%d) = %d spans, %v; want %d", version, len(all), err, len(want))
		}
	}
	_, err := c.API().QuerySpans(t.Context(), &fusionizev1.QuerySpansRequest{PageToken: "not-a-token"})
	wantCode(t, err, codes.InvalidArgument)
}

// reportSpans reports perVersion spans of task A for each of the setup
// versions 1 to versions, one a second; span i of version v has ID
// v*idBase+i.
func reportSpans(t *testing.T, c *client.Client, versions int64, perVersion int, idBase int64) {
	t.Helper()
	var batch []span.Span
	for v := int64(1); v <= versions; v++ {
		for i := range perVersion {
			s := validSpan0("A", v)
			s.ID = uint64(v*idBase + int64(i))
			s.Start = s.Start.Add(time.Duration(i) * time.Second)
			batch = append(batch, s)
		}
	}
	if _, _, err := c.ReportSpans(t.Context(), "h", batch); err != nil {
		t.Fatal(err)
	}
}
