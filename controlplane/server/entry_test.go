package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/host"
	hostserver "github.com/fusionize/fusionize/host/server"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// startEchoHost serves task echo on a real host (wazero, gRPC on
// loopback) in group, requiring invokeToken, and returns its address.
func startEchoHost(t testing.TB, group, invokeToken string) string {
	t.Helper()
	ctx := context.Background()
	h, err := host.New(ctx, host.Config{Name: "host-" + group, Group: group, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(ctx) })
	if err := h.LoadFile(ctx, "echo", filepath.Join("..", "..", "host", "testdata", "echo.wasm"), ""); err != nil {
		t.Fatal(err)
	}
	srv, err := hostserver.New(h, hostserver.Options{InvokeToken: invokeToken})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Shutdown(ctx) })
	return lis.Addr().String()
}

// activate records su with group → addr as the active version, as the
// deployer does once every group serves.
func activate(t *testing.T, cp *testCP, su *setup.Setup, eps api.Endpoints) int64 {
	t.Helper()
	v, err := cp.Store().ApplySetup(su)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Store().SetEndpoints(v, eps); err != nil {
		t.Fatal(err)
	}
	if err := cp.Store().SetActiveVersion(v); err != nil {
		t.Fatal(err)
	}
	return v
}

func echoSetup(group string) *setup.Setup {
	return &setup.Setup{Groups: []setup.Group{{Name: group, Tasks: []string{"echo"}, MemoryMB: 128, Place: setup.Place{Provider: "local"}}}}
}

// entryClient is a plain HostService client of the control plane's gRPC
// address, as grpcurl or any gRPC client of the app would be.
func entryClient(t *testing.T, cp *testCP) fusionizev1.HostServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(cp.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return fusionizev1.NewHostServiceClient(cc)
}

func bearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// restInvoke posts input to the control plane's POST /v1/invoke/{task}.
func restInvoke(t *testing.T, cp *testCP, task, token string, input []byte) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"input": input})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+cp.HTTPAddr()+"/v1/invoke/"+task, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func TestEntryForwardsToTheActiveVersionsGroupAndFollowsItsSwitch(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := entryClient(t, cp)
	v1 := activate(t, cp, echoSetup("a"), api.Endpoints{"a": api.GRPC(startEchoHost(t, "a", cp.InvokeToken()))})

	var hdr metadata.MD
	res, err := c.Invoke(bearer(t.Context(), cp.InvokeToken()), &fusionizev1.InvokeRequest{Task: "echo", Input: []byte("one")}, grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	if string(res.GetOutput()) != "one" || hdr.Get(MDSetupVersion)[0] != strconv.FormatInt(v1, 10) || hdr.Get(MDGroup)[0] != "a" {
		t.Fatalf("output %q, headers %v; want %q from version %d, group a", res.GetOutput(), hdr, "one", v1)
	}

	// The deployer switches to a new version with another host: the next
	// request reaches it, at the same address.
	v2 := activate(t, cp, echoSetup("b"), api.Endpoints{"b": api.GRPC(startEchoHost(t, "b", cp.InvokeToken()))})
	resp, body := restInvoke(t, cp, "echo", cp.InvokeToken(), []byte("two"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("REST invoke: %s: %s", resp.Status, body)
	}
	var out struct{ Output []byte }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("REST invoke answered %s: %v", body, err)
	}
	if string(out.Output) != "two" || resp.Header.Get("Fusionize-Setup-Version") != strconv.FormatInt(v2, 10) || resp.Header.Get("Fusionize-Group") != "b" {
		t.Fatalf("REST output %q, headers %v; want %q from version %d, group b", out.Output, resp.Header, "two", v2)
	}

	h, err := c.Health(t.Context(), &fusionizev1.HealthRequest{}) // open, as on hosts
	if err != nil {
		t.Fatal(err)
	}
	if h.GetStatus() != fusionizev1.ServingStatus_SERVING_STATUS_SERVING || h.GetSetupVersion() != v2 {
		t.Fatalf("entry health %v, want SERVING at version %d", h, v2)
	}
}

func TestEntryRefusesCallsWithoutTheInvokeToken(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := entryClient(t, cp)
	activate(t, cp, echoSetup("a"), api.Endpoints{"a": api.GRPC(startEchoHost(t, "a", cp.InvokeToken()))})
	for name, ctx := range map[string]context.Context{
		"no token":                t.Context(),
		"the control-plane token": bearer(t.Context(), cp.Token()),
		"a wrong token":           bearer(t.Context(), "nope"),
	} {
		_, err := c.Invoke(ctx, &fusionizev1.InvokeRequest{Task: "echo", Input: []byte("x")})
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "invoke-token") {
			t.Errorf("with %s: %v, want Unauthenticated naming the invoke-token file", name, err)
		}
	}
	if res, body := restInvoke(t, cp, "echo", "", []byte("x")); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("REST without a token: %s %s, want 401", res.Status, body)
	}
	if res, body := restInvoke(t, cp, "echo", cp.Token(), []byte("x")); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("REST with the control-plane token: %s %s, want 401", res.Status, body)
	}
	// And the invoke token opens nothing else of the control plane.
	_, err := fusionizev1.NewControlPlaneServiceClient(dialRaw(t, cp)).Status(bearer(t.Context(), cp.InvokeToken()), &fusionizev1.StatusRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

func dialRaw(t *testing.T, cp *testCP) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(cp.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestEntryAnswersAnUnknownTaskWithNotFoundNamingIt(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := entryClient(t, cp)
	v := activate(t, cp, echoSetup("a"), api.Endpoints{"a": api.GRPC(startEchoHost(t, "a", cp.InvokeToken()))})
	_, err := c.Invoke(bearer(t.Context(), cp.InvokeToken()), &fusionizev1.InvokeRequest{Task: "checkout"})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), `"checkout"`) || !strings.Contains(err.Error(), "version "+strconv.FormatInt(v, 10)) {
		t.Fatalf("unknown task: %v, want NotFound naming the task and the version", err)
	}
	if res, body := restInvoke(t, cp, "checkout", cp.InvokeToken(), nil); res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "checkout") {
		t.Fatalf("REST unknown task: %s %s, want 404 naming it", res.Status, body)
	}
}

func TestEntryWithNoActiveSetupFailsPreconditionSayingSo(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := entryClient(t, cp)
	_, err := c.Invoke(bearer(t.Context(), cp.InvokeToken()), &fusionizev1.InvokeRequest{Task: "echo"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "no active setup") || !strings.Contains(err.Error(), "testapp") {
		t.Fatalf("no active setup: %v, want FailedPrecondition saying no setup of app testapp is active", err)
	}
	h, err := c.Health(t.Context(), &fusionizev1.HealthRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if h.GetStatus() != fusionizev1.ServingStatus_SERVING_STATUS_NOT_SERVING {
		t.Fatalf("entry health before any deploy: %v, want NOT_SERVING", h)
	}
}

func TestEntryPassesTheHostsErrorCodeOn(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := entryClient(t, cp)
	// The group's host is gone: the entry point says so with Unavailable,
	// naming the task, after its retries.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := lis.Addr().String()
	lis.Close()
	activate(t, cp, echoSetup("a"), api.Endpoints{"a": api.GRPC(gone)})
	_, err = c.Invoke(bearer(t.Context(), cp.InvokeToken()), &fusionizev1.InvokeRequest{Task: "echo"})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "echo") {
		t.Fatalf("host gone: %v, want Unavailable naming the task", err)
	}
}
