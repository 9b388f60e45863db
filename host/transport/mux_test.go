package transport_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport"
)

func TestMuxPicksTheTransportOfTheEndpointsKind(t *testing.T) {
	mux := transport.NewMux()
	var got []string
	for _, kind := range []string{api.KindGRPC, api.KindLambda} {
		mux.Register(kind, host.TransportFunc(func(_ context.Context, to host.Target, c host.Call) ([]byte, error) {
			got = append(got, kind+":"+to.Group+":"+c.Task)
			return []byte(kind), nil
		}))
	}
	out, err := mux.Invoke(context.Background(), host.Target{Group: "b", Endpoint: api.Endpoint{Kind: api.KindLambda, FunctionName: "f", Region: "r"}}, host.Call{Task: "echo"})
	if err != nil || string(out) != api.KindLambda {
		t.Fatalf("lambda endpoint: %q, %v", out, err)
	}
	if _, err := mux.Invoke(context.Background(), host.Target{Group: "c", Endpoint: api.GRPC("127.0.0.1:1")}, host.Call{Task: "x"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "lambda:b:echo" || got[1] != "grpc:c:x" {
		t.Fatalf("calls = %v", got)
	}
}

func TestMuxRefusesAKindNobodyRegistered(t *testing.T) {
	mux := transport.NewMux()
	_, err := mux.Invoke(context.Background(), host.Target{Group: "b", Endpoint: api.Endpoint{Kind: api.KindHTTPS, URL: "https://x"}}, host.Call{Task: "echo"})
	if !errors.Is(err, host.ErrUnavailable) || host.CodeOf(err) != host.CodeUnavailable {
		t.Fatalf("err = %v, want CodeUnavailable", err)
	}
}
