package server_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
)

// grpcurl runs "grpcurl -plaintext flags... addr verb..." and returns its
// output and whether it exited 0.
func grpcurl(t *testing.T, bin, addr string, flags, verb []string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append(append(append([]string{"-plaintext"}, flags...), addr), verb...)
	out, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("grpcurl %v: %v", full, ctx.Err())
	}
	return string(out), err == nil
}

// TestGrpcurlListsDescribesChecksAndDecodesErrorDetails drives a host the
// way a user does from a shell, with grpcurl (scripts/install-grpcurl.sh).
func TestGrpcurlListsDescribesChecksAndDecodesErrorDetails(t *testing.T) {
	bin, err := exec.LookPath("grpcurl")
	if err != nil {
		t.Skip("grpcurl not on PATH: run scripts/install-grpcurl.sh")
	}
	h := newHost(t, host.Config{Name: "host-b", Group: "b"}, map[string]string{"echo": wat("echo")})
	_, addr := serve(t, h, server.Options{InvokeToken: testToken})
	auth := "authorization: Bearer " + testToken

	for _, tc := range []struct {
		name        string
		flags, verb []string
		ok          bool
		want        []string
	}{
		{"list", nil, []string{"list"}, true, []string{"fusionize.v1.HostService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"}},
		{"describe", nil, []string{"describe", "fusionize.v1.HostService"}, true, []string{"HostService is served by every host", "Invoke runs a task.", "rpc Invoke"}},
		{"health", []string{"-d", `{"service":"fusionize.v1.HostService"}`}, []string{"grpc.health.v1.Health/Check"}, true, []string{`"status": "SERVING"`}},
		{"invoke", []string{"-H", auth, "-d", `{"task":"echo","input":"aGk="}`}, []string{"fusionize.v1.HostService/Invoke"}, true, []string{`"output": "aGk="`}},
		{"no token", []string{"-d", `{"task":"echo"}`}, []string{"fusionize.v1.HostService/Invoke"}, false, []string{"Unauthenticated", "missing invoke token"}},
		// The ErrorInfo of a failed call is decoded through reflection.
		{"error details", []string{"-H", auth, "-d", `{"task":"nope"}`}, []string{"fusionize.v1.HostService/Invoke"}, false,
			[]string{"NotFound", `"@type": "type.googleapis.com/google.rpc.ErrorInfo"`, `"domain": "fusionize.v1"`, `"task": "nope"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := grpcurl(t, bin, addr, tc.flags, tc.verb)
			if ok != tc.ok {
				t.Fatalf("grpcurl %v %v: exit ok=%v, want %v:\n%s", tc.flags, tc.verb, ok, tc.ok, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("grpcurl %v %v: output lacks %q:\n%s", tc.flags, tc.verb, w, out)
				}
			}
			if strings.Contains(out, testToken) && tc.name != "invoke" {
				t.Errorf("grpcurl %v: the output holds the token:\n%s", tc.verb, out)
			}
		})
	}
}
