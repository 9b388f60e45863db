package local_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/fusionize/fusionize/adapters/adaptertest"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
)

// TestHostProcessRequiresTheInvokeToken: a host process refuses Invoke
// without the app's invoke token or with another one, over gRPC and REST,
// says what is missing and never echoes the token; health stays open.
func TestHostProcessRequiresTheInvokeToken(t *testing.T) {
	env := adaptertest.NewEnv(t)
	if env.InvokeToken == "" || env.InvokeToken == env.Token {
		t.Fatalf("invoke token %q: want one of its own", env.InvokeToken)
	}
	f := newFixture(t, nil)
	ep := f.deploy(t, env, env.Setup, adaptertest.GroupEcho)

	for _, tc := range []struct {
		name, token, want string
	}{
		{"no token", "", "missing invoke token"},
		{"wrong token", strings.Repeat("0", 64), "invalid invoke token"},
		{"control-plane token", env.Token, "invalid invoke token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := grpctransport.NewTransport(grpctransport.Options{InvokeToken: tc.token})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			out, err := invoke(tr, ep, "echo", []byte("x"))
			if err == nil {
				t.Fatalf("echo without the invoke token answered %q", out)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), env.InvokeToken) {
				t.Fatalf("error %q: want it to say %q and not to hold the token", err, tc.want)
			}
		})
	}
	if out, err := invoke(newTransport(t, env), ep, "echo", []byte("x")); err != nil || string(out) != "x" {
		t.Fatalf("echo with the invoke token = %q, %v", out, err)
	}

	cc, err := grpc.NewClient(ep.Endpoint.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health without a token: %v %v", res, err)
	}

	body := `{"input":"` + base64.StdEncoding.EncodeToString([]byte("rest")) + `"}`
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer " + env.Token, http.StatusUnauthorized},
		{"Basic " + env.InvokeToken, http.StatusUnauthorized},
		{"Bearer " + env.InvokeToken, http.StatusOK},
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.HTTP+"/v1/invoke/echo", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("POST /v1/invoke/echo with %q: %d %s, want %d", strings.SplitN(tc.auth, " ", 2)[0], res.StatusCode, b, tc.want)
		}
		if tc.want == http.StatusUnauthorized && strings.Contains(string(b), env.InvokeToken) {
			t.Errorf("401 body holds the token: %s", b)
		}
	}

	// The host process labels its metrics by group and setup version apart
	// (its host name, b@vN, would make new series names per deploy).
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.HTTP+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	version := strconv.FormatInt(env.Setup.Version, 10)
	for _, want := range []string{
		`fusionize_request_duration_seconds_count{code="OK",group="b",host="b",setup_version="` + version + `",task="echo"} 2`,
		`fusionize_request_duration_seconds_count{code="Unauthenticated",group="b",host="b",setup_version="` + version + `",task="-"} 6`,
		"\ngo_goroutines ",
		"\nprocess_resident_memory_bytes ",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics of the host process lacks %s", want)
		}
	}
	problems, err := promlint.New(strings.NewReader(string(metrics))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
