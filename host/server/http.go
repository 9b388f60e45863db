package server

import (
	"context"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// HTTPOptions configures Server.HTTPHandler.
type HTTPOptions struct {
	// DialOptions for the gateway's connection to the gRPC endpoint.
	// Default: plaintext to a loopback address (credentials/local) and the
	// server's message size limits. Set them when the endpoint uses TLS.
	DialOptions []grpc.DialOption
}

// HTTPHandler returns the host's HTTP face:
//
//	POST /v1/invoke/{task}  HostService.Invoke through the grpc-gateway (JSON; input is base64)
//	GET  /v1/health         HostService.Health through the grpc-gateway
//	GET  /healthz           200 while serving, 503 when draining or stopped
//	GET  /metrics           Prometheus metrics of the server's registry
//
// The gateway calls the gRPC endpoint grpcAddr (this server's listener), so
// REST requests pass the same gRPC server options and interceptors as gRPC
// ones; its connection lives until ctx ends. With an empty grpcAddr the
// gateway calls the Server in process instead, without the loopback hop
// (see BENCHMARKS.server.md) but also without the *grpc.Server's options.
// HTTP headers named Fusionize-* (Fusionize-Trace-Id, …) are passed on as
// the matching gRPC metadata, and Grpc-Timeout sets the call's deadline.
// Request bodies are limited to twice the server's message size limit
// (the input travels in base64).
func (s *Server) HTTPHandler(ctx context.Context, grpcAddr string, opts HTTPOptions) (http.Handler, error) {
	gw := runtime.NewServeMux(runtime.WithIncomingHeaderMatcher(headerMatcher))
	limit := s.opts.MaxPayload + s.opts.Overhead
	if grpcAddr == "" {
		if err := fusionizev1.RegisterHostServiceHandlerServer(ctx, gw, s); err != nil {
			return nil, err
		}
	} else {
		dial := opts.DialOptions
		if dial == nil {
			dial = []grpc.DialOption{
				grpc.WithTransportCredentials(grpctransport.ClientCreds(nil, false)),
				grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(limit), grpc.MaxCallSendMsgSize(limit)),
			}
		}
		if err := fusionizev1.RegisterHostServiceHandlerFromEndpoint(ctx, gw, grpcAddr, dial); err != nil {
			return nil, err
		}
	}
	mux := http.NewServeMux()
	maxBody := 2 * int64(limit)
	mux.Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		gw.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.Serving() {
			w.WriteHeader(http.StatusServiceUnavailable)
			state := "not serving\n"
			if s.servingStatus() == fusionizev1.ServingStatus_SERVING_STATUS_DRAINING {
				state = "draining\n"
			}
			_, _ = w.Write([]byte(state))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux, nil
}

// headerMatcher passes Fusionize-* headers on as fusionize-* metadata, and
// the gateway's usual headers as it does by default.
func headerMatcher(key string) (string, bool) {
	if k := textproto.CanonicalMIMEHeaderKey(key); strings.HasPrefix(k, "Fusionize-") {
		return strings.ToLower(k), true
	}
	return runtime.DefaultHeaderMatcher(key)
}
