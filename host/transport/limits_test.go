package transport_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fusionize/fusionize/host"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/host/transport/https"
	lambdatransport "github.com/fusionize/fusionize/host/transport/lambda"
	"github.com/fusionize/fusionize/host/transport/wire"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// TestPayloadLimitFitsEverySyncInvokePath: an input or output at a host's
// default payload limit, in the envelope of each invoke path, fits that
// path's own limit, so the host's payload check (which names the task and
// the limit) is the one that refuses a larger payload, on every path.
func TestPayloadLimitFitsEverySyncInvokePath(t *testing.T) {
	h, err := host.New(context.Background(), host.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := h.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	limit := h.MaxPayload()
	if limit != grpctransport.DefaultMaxPayload {
		t.Fatalf("host payload limit %d, gRPC transport's default %d", limit, grpctransport.DefaultMaxPayload)
	}
	payload := make([]byte, limit)
	c := host.Call{Task: strings.Repeat("t", 64), Input: payload, Caller: strings.Repeat("c", 64),
		TraceID: strings.Repeat("f", 32), ParentID: 1 << 63, Depth: 31}

	env, err := json.Marshal(wire.NewRequest(c, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(wire.Response{Output: payload})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		path  string
		limit int
	}{
		{"Lambda sync invoke", lambdatransport.MaxSyncPayload},
		{"HTTPS to Cloud Run", https.MaxBody},
	} {
		if len(env) > p.limit || len(out) > p.limit {
			t.Errorf("%s: request %d / response %d bytes at the payload limit, over the path's limit of %d", p.path, len(env), len(out), p.limit)
		}
	}

	send, recv := grpctransport.MessageLimits(limit, grpctransport.DefaultOverhead)
	req := proto.Size(&fusionizev1.InvokeRequest{Task: c.Task, Input: payload, Caller: c.Caller, TraceId: c.TraceID, ParentSpanId: c.ParentID, Depth: int32(c.Depth)})
	if req > send || recv < 2*limit {
		t.Errorf("gRPC: request of %d bytes at the payload limit, send limit %d, receive limit %d", req, send, recv)
	}
}
