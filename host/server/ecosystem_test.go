package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// dial returns a plaintext client connection to addr, closed at cleanup.
func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func checkHealth(t *testing.T, hc healthpb.HealthClient, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health check %q: %v", service, err)
	}
	if res.GetStatus() != want {
		t.Fatalf("health check %q: %v, want %v", service, res.GetStatus(), want)
	}
}

func TestStandardHealthServesUntilDrainAndKnowsItsServices(t *testing.T) {
	h := newHost(t, host.Config{Name: "host-b", Group: "b"}, map[string]string{"echo": wat("echo")})
	srv, addr := serve(t, h, serverOptions())
	hc := healthpb.NewHealthClient(dial(t, addr))
	checkHealth(t, hc, "", healthpb.HealthCheckResponse_SERVING)
	checkHealth(t, hc, "fusionize.v1.HostService", healthpb.HealthCheckResponse_SERVING)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "fusionize.v1.NoSuchService"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown service: %v, want NotFound", err)
	}
	list, err := hc.List(ctx, &healthpb.HealthListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := list.GetStatuses()["fusionize.v1.HostService"].GetStatus(); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("list: HostService %v, want SERVING (%v)", got, list)
	}

	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "fusionize.v1.HostService"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := watch.Recv(); err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch, first: %v %v", res, err)
	}
	srv.Drain()
	if res, err := watch.Recv(); err != nil || res.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch after Drain: %v %v, want NOT_SERVING", res, err)
	}
	checkHealth(t, hc, "", healthpb.HealthCheckResponse_NOT_SERVING)
	checkHealth(t, hc, "fusionize.v1.HostService", healthpb.HealthCheckResponse_NOT_SERVING)
}

func TestStandardHealthSeesAHostDrainedDirectly(t *testing.T) {
	h := newHost(t, host.Config{Name: "host-b", Group: "b"}, map[string]string{"echo": wat("echo")})
	_, addr := serve(t, h, serverOptions())
	hc := healthpb.NewHealthClient(dial(t, addr))
	checkHealth(t, hc, "", healthpb.HealthCheckResponse_SERVING)
	h.Drain()
	checkHealth(t, hc, "", healthpb.HealthCheckResponse_NOT_SERVING)
	checkHealth(t, hc, "fusionize.v1.HostService", healthpb.HealthCheckResponse_NOT_SERVING)
}

// reflect sends one reflection request and returns its answer.
func reflect(t *testing.T, rc reflectionpb.ServerReflectionClient, req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := rc.ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	res, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if e := res.GetErrorResponse(); e != nil {
		t.Fatalf("reflection %v: %v", req, e)
	}
	return res
}

// fileOf asks reflection for the file defining symbol and returns it (the
// first descriptor of the answer; the rest are its imports).
func fileOf(t *testing.T, rc reflectionpb.ServerReflectionClient, symbol string) *descriptorpb.FileDescriptorProto {
	t.Helper()
	res := reflect(t, rc, &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol},
	})
	raw := res.GetFileDescriptorResponse().GetFileDescriptorProto()
	if len(raw) == 0 {
		t.Fatalf("reflection: no file for %s", symbol)
	}
	var fd descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(raw[0], &fd); err != nil {
		t.Fatal(err)
	}
	return &fd
}

// comments returns every leading comment of fd's source info.
func comments(fd *descriptorpb.FileDescriptorProto) string {
	var b strings.Builder
	for _, loc := range fd.GetSourceCodeInfo().GetLocation() {
		b.WriteString(loc.GetLeadingComments())
	}
	return b.String()
}

func TestReflectionListsServicesAndServesCommentsAndErrorDetails(t *testing.T) {
	h := newHost(t, host.Config{Name: "host-b", Group: "b"}, map[string]string{"echo": wat("echo")})
	_, addr := serve(t, h, serverOptions())
	rc := reflectionpb.NewServerReflectionClient(dial(t, addr))

	res := reflect(t, rc, &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	})
	var names []string
	for _, s := range res.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"fusionize.v1.HostService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !strings.Contains(got, want) {
			t.Errorf("reflection lists %q, missing %s", got, want)
		}
	}

	fd := fileOf(t, rc, "fusionize.v1.HostService")
	if fd.GetName() != "fusionize/v1/host.proto" {
		t.Fatalf("HostService in %s", fd.GetName())
	}
	if c := comments(fd); !strings.Contains(c, "HostService is served by every host") ||
		!strings.Contains(c, "Invoke runs a task.") {
		t.Fatalf("host.proto over reflection lacks its comments: %q", c)
	}

	// Failed invocations carry a google.rpc.ErrorInfo; a client such as
	// grpcurl decodes it only if reflection knows the type.
	if fd := fileOf(t, rc, "google.rpc.ErrorInfo"); fd.GetName() != "google/rpc/error_details.proto" {
		t.Fatalf("google.rpc.ErrorInfo in %s", fd.GetName())
	}
}

// serverOptions are the options of the servers of these tests.
func serverOptions() server.Options { return server.Options{} }

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestInvokeNeedsTheInvokeTokenFromClientsAndPeers(t *testing.T) {
	for _, tc := range []struct {
		name, token, want string
	}{
		{"none", "", "missing invoke token"},
		{"wrong", strings.Repeat("f", 64), "invalid invoke token"},
		{"right", testToken, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// host a's caller calls echo on host b, which requires the token.
			p := newPair(t, host.Config{}, host.Config{})
			_, addr := serve(t, p.b, server.Options{InvokeToken: testToken})
			tr := newTransport(t, grpctransport.Options{InvokeToken: tc.token}, addrs{"b": addr})
			ha := newHost(t, host.Config{Name: "host-a2", Group: "a", Transport: tr, Endpoints: tr.eps}, map[string]string{"caller": wat("caller")})
			if err := ha.SetSetup(twoGroups()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := ha.Invoke(ctx, "caller", []byte("peer"))
			if tc.want == "" {
				if err != nil || !strings.Contains(string(out), "peer") {
					t.Fatalf("peer call with the token: %q, %v", out, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), testToken) {
				t.Fatalf("peer call: %q, %v; want an error saying %q without the token", out, err, tc.want)
			}
			// A client's call gets Unauthenticated itself.
			cc := dial(t, addr)
			cctx := ctx
			if tc.token != "" {
				cctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tc.token)
			}
			_, err = fusionizev1.NewHostServiceClient(cc).Invoke(cctx, &fusionizev1.InvokeRequest{Task: "echo", Input: []byte("x")})
			if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("client call: %v, want Unauthenticated saying %q", err, tc.want)
			}
			// Health, HostService.Health and reflection need no token.
			checkHealth(t, healthpb.NewHealthClient(cc), "", healthpb.HealthCheckResponse_SERVING)
			if _, err := fusionizev1.NewHostServiceClient(cc).Health(ctx, &fusionizev1.HealthRequest{}); err != nil {
				t.Fatalf("HostService.Health without a token: %v", err)
			}
			reflect(t, reflectionpb.NewServerReflectionClient(cc), &reflectionpb.ServerReflectionRequest{
				MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
			})
		})
	}
}

func TestRESTInvokeNeedsTheInvokeToken(t *testing.T) {
	t.Run("through gRPC", func(t *testing.T) { testRESTAuth(t, false) })
	t.Run("in process", func(t *testing.T) { testRESTAuth(t, true) })
}

func testRESTAuth(t *testing.T, inProcess bool) {
	h := newHost(t, host.Config{Name: "host-b", Group: "b"}, map[string]string{"echo": wat("echo")})
	s, addr := serve(t, h, server.Options{InvokeToken: testToken})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if inProcess {
		addr = ""
	}
	handler, err := s.HTTPHandler(ctx, addr, server.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base, client := serveHTTP(t, handler)
	for _, tc := range []struct {
		auth, want string
		code       int
	}{
		{"", "missing invoke token", http.StatusUnauthorized},
		{"Token " + testToken, "not a bearer token", http.StatusUnauthorized},
		{"Bearer nope", "invalid invoke token", http.StatusUnauthorized},
		{"bearer " + testToken, "", http.StatusOK},
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/invoke/echo", strings.NewReader(`{"input":"aGk="}`))
		if err != nil {
			t.Fatal(err)
		}
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) || (tc.code != http.StatusOK && strings.Contains(string(b), testToken)) {
			t.Errorf("Authorization %q: %d %s, want %d saying %q", strings.SplitN(tc.auth, " ", 2)[0], resp.StatusCode, b, tc.code, tc.want)
		}
	}
	resp, err := client.Get(base + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/health without a token: %d", resp.StatusCode)
	}
}

func TestHealthWatchDoesNotHoldUpShutdown(t *testing.T) {
	h := newHost(t, host.Config{Name: "host-b", Group: "b"}, map[string]string{"echo": wat("echo")})
	srv, err := server.New(h, serverOptions())
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch, err := healthpb.NewHealthClient(dial(t, lis.Addr().String())).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := watch.Recv(); err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v %v", res, err)
	}
	// Without ending the watch, a graceful stop would wait for ctx.
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a health watch open: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := watch.Recv(); err != nil {
			break // the stream ended, whatever it said last
		}
	}
}
