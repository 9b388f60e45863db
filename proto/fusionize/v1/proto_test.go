package fusionizev1_test

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
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

func TestSetupRoundTrips(t *testing.T) {
	in := &fusionizev1.Setup{
		Version: 7,
		Groups: []*fusionizev1.Group{{
			Name:     "g0",
			Tasks:    []string{"ingest", "filter"},
			MemoryMb: 512,
			Place:    &fusionizev1.Place{Provider: "aws", Region: "eu-central-1", Arch: "arm64"},
		}},
	}
	roundTrip(t, in, &fusionizev1.Setup{})
}

func TestSpanRoundTrips(t *testing.T) {
	in := &fusionizev1.Span{
		TraceId:      "t1",
		Id:           2,
		ParentId:     1,
		Caller:       "ingest",
		Task:         "filter",
		Async:        true,
		Remote:       true,
		Group:        "g1",
		Host:         "h1",
		SetupVersion: 7,
		Start:        timestamppb.New(time.Unix(1700000000, 123)),
		Duration:     durationpb.New(30 * time.Millisecond),
		Wait:         durationpb.New(10 * time.Millisecond),
		Billed:       durationpb.New(31 * time.Millisecond),
		MemoryMb:     512,
		Cold:         true,
		InputBytes:   100,
		OutputBytes:  200,
		Err:          "boom",
	}
	roundTrip(t, in, &fusionizev1.Span{})
}

func roundTrip(t *testing.T, in, out proto.Message) {
	t.Helper()
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if !proto.Equal(in, out) {
		t.Fatalf("round trip changed the message:\n in: %v\nout: %v", in, out)
	}
}

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
