// Package apitest checks the API as its configuration defines it beyond the
// protos: the REST routes that fusionize_api.yaml gives the grpc-gateway.
// It holds tests only, apart from the generated code of proto/fusionize/v1.
package apitest_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

type healthServer struct {
	fusionizev1.UnimplementedHostServiceServer
}

func (healthServer) Health(context.Context, *fusionizev1.HealthRequest) (*fusionizev1.HealthResponse, error) {
	return &fusionizev1.HealthResponse{
		Status:       fusionizev1.ServingStatus_SERVING_STATUS_SERVING,
		Host:         "h1",
		Group:        "g0",
		SetupVersion: 3,
		Tasks:        []string{"ingest"},
		Inflight:     2,
	}, nil
}

func TestGatewayServesHealthOverGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	fusionizev1.RegisterHostServiceServer(srv, healthServer{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	mux := runtime.NewServeMux()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if err := fusionizev1.RegisterHostServiceHandlerFromEndpoint(ctx, mux, lis.Addr().String(), opts); err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(mux)
	defer gw.Close()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/v1/health", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/health: %s: %s", resp.Status, body)
	}
	var got struct {
		Status       string   `json:"status"`
		Host         string   `json:"host"`
		Group        string   `json:"group"`
		SetupVersion string   `json:"setupVersion"` // int64 is a JSON string
		Tasks        []string `json:"tasks"`
		Inflight     string   `json:"inflight"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if got.Status != "SERVING_STATUS_SERVING" || got.Host != "h1" || got.Group != "g0" ||
		got.SetupVersion != "3" || len(got.Tasks) != 1 || got.Tasks[0] != "ingest" || got.Inflight != "2" {
		t.Fatalf("GET /v1/health = %s", body)
	}
}
