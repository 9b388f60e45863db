package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// payloadHost serves echo on a host with the default payload limit (4 MiB)
// and the server's default options.
func payloadHost(t *testing.T) (*host.Host, string) {
	h := newHost(t, host.Config{Name: "host-p", Group: "p"}, map[string]string{"echo": wat("echo")})
	_, addr := serve(t, h, server.Options{})
	return h, addr
}

func TestPayloadAtTheLimitPassesAndOverItIsTheHostsError(t *testing.T) {
	_, addr := payloadHost(t)
	tr := newTransport(t, grpctransport.Options{}, addrs{"p": addr})
	const limit = 4 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in := bytes.Repeat([]byte("x"), limit)
	out, err := tr.Call(ctx, "p", host.Call{Task: "echo", Input: in})
	if err != nil || len(out) != limit {
		t.Fatalf("input at the limit: %d bytes, %v", len(out), err)
	}
	for _, n := range []int{limit + 1, limit + 70<<10, 3 * limit} {
		_, err := tr.Call(ctx, "p", host.Call{Task: "echo", Input: make([]byte, n)})
		checkErr(t, err, host.CodeTooLarge, `task "echo"`, fmt.Sprintf("input of %d bytes", n), "payload limit of 4194304 bytes")
		if out, err := tr.Call(ctx, "p", host.Call{Task: "echo", Input: []byte("next")}); err != nil || string(out) != "next" {
			t.Fatalf("after %d bytes: %q, %v", n, out, err)
		}
	}
}

func TestPayloadOverTheLimitFromAnyGRPCClientIsTheHostsError(t *testing.T) {
	// A client without Fusionize's transport (grpcurl, another SDK) sends
	// whatever it likes: the host's payload check answers it, not gRPC.
	_, addr := payloadHost(t)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := fusionizev1.NewHostServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range []int{4<<20 + 1, 4<<20 + 70<<10, 8 << 20} {
		var trailer metadata.MD
		_, err := client.Invoke(ctx, &fusionizev1.InvokeRequest{Task: "echo", Input: make([]byte, n)}, grpc.Trailer(&trailer))
		st := status.Convert(err)
		if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), `task "echo"`) || !strings.Contains(st.Message(), "payload limit of 4194304 bytes") {
			t.Errorf("%d bytes: %v", n, err)
		}
		if got := trailer.Get(grpctransport.MDCode); len(got) != 1 || got[0] != strconv.Itoa(int(host.CodeTooLarge)) {
			t.Errorf("%d bytes: trailer code %q", n, got)
		}
	}
	if res, err := client.Invoke(ctx, &fusionizev1.InvokeRequest{Task: "echo", Input: []byte("next")}); err != nil || string(res.GetOutput()) != "next" {
		t.Fatalf("next request: %v", err)
	}
}

func TestRESTPayloadOverTheLimitIs413(t *testing.T) {
	for _, inProcess := range []bool{false, true} {
		t.Run(fmt.Sprintf("in process %v", inProcess), func(t *testing.T) {
			h := newHost(t, host.Config{Name: "host-r", Group: "r", MaxPayload: 1 << 10}, map[string]string{"echo": wat("echo")})
			s, addr := serve(t, h, server.Options{})
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
			post := func(n int) (int, string) {
				t.Helper()
				body := fmt.Sprintf(`{"input":%q}`, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("y"), n)))
				resp, err := client.Post(base+"/v1/invoke/echo", "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			if code, b := post(2 << 10); code != http.StatusRequestEntityTooLarge || !strings.Contains(b, `task \"echo\"`) || !strings.Contains(b, "payload limit of 1024 bytes") {
				t.Errorf("over the limit: %d %s", code, b)
			}
			if code, b := post(256 << 10); code != http.StatusRequestEntityTooLarge || !strings.Contains(b, "payload limit is 1024 bytes") {
				t.Errorf("far over the limit: %d %s", code, b)
			}
			if code, b := post(1 << 10); code != http.StatusOK {
				t.Errorf("at the limit: %d %s", code, b)
			}
		})
	}
}

func TestGuestLoopEndsWithTheHostsDeadlineErrorBeforeTheClients(t *testing.T) {
	// The host's Timeout (30 s) is not what stops the loop: the client's
	// deadline is, and the host answers a little before it fires.
	h := newHost(t, host.Config{Name: "host-d", Group: "d"}, map[string]string{"loop": wat("loop"), "echo": wat("echo")})
	_, addr := serve(t, h, server.Options{})
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := fusionizev1.NewHostServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var trailer metadata.MD
	_, err = client.Invoke(ctx, &fusionizev1.InvokeRequest{Task: "loop"}, grpc.Trailer(&trailer))
	st := status.Convert(err)
	if st.Code() != codes.DeadlineExceeded || !strings.Contains(st.Message(), `task "loop" on host host-d: stopped by its deadline`) {
		t.Errorf("got %v, want the host's deadline error naming the task", err)
	}
	if got := trailer.Get(grpctransport.MDCode); len(got) != 1 || got[0] != strconv.Itoa(int(host.CodeDeadline)) {
		t.Errorf("trailer code %q, want %d", got, host.CodeDeadline)
	}
	// The same through the transport, and the host serves the next call.
	tr := newTransport(t, grpctransport.Options{}, addrs{"d": addr})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	_, err = tr.Call(ctx2, "d", host.Call{Task: "loop"})
	checkErr(t, err, host.CodeDeadline, `task "loop" on host host-d via `+addr+": stopped by its deadline")
	if out, err := tr.Call(context.Background(), "d", host.Call{Task: "echo", Input: []byte("next")}); err != nil || string(out) != "next" {
		t.Fatalf("next call: %q, %v", out, err)
	}
}
