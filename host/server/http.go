package server

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/host"

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
// The W3C Traceparent and Tracestate headers and those named Fusionize-*
// (Fusionize-Caller, …) are passed on as the matching gRPC metadata, and
// Grpc-Timeout sets the call's deadline; an invocation over REST is
// traced with faas.trigger "http".
// Request bodies are limited to twice the server's receive limit (the
// input travels in base64). A payload over the host's limit is answered
// with 413 Request Entity Too Large, as Lambda and Cloud Functions answer
// one; 429 is kept for CodeTooMany, a load the caller may retry later.
func (s *Server) HTTPHandler(ctx context.Context, grpcAddr string, opts HTTPOptions) (http.Handler, error) {
	gw := runtime.NewServeMux(runtime.WithIncomingHeaderMatcher(headerMatcher), runtime.WithErrorHandler(httpError))
	_, limit := grpctransport.MessageLimits(s.opts.MaxPayload, s.opts.Overhead)
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
		if r.ContentLength > maxBody {
			http.Error(w, fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes (the payload limit is %d bytes)", r.ContentLength, maxBody, s.opts.MaxPayload), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		r.Header.Set(httpTriggerHeader, host.TriggerHTTP)
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

// httpError is the gateway's error handler: the default one, except that a
// payload over the limit (CodeTooLarge) is 413 rather than the 429 of
// ResourceExhausted.
func httpError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if st, ok := status.FromError(err); ok {
		if code, ok := grpctransport.ExactCode(st); ok && code == host.CodeTooLarge {
			err = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge, Err: err}
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// mdTrigger is the metadata the REST face sets on the calls it passes to
// the gRPC service (from httpTriggerHeader), so their spans say
// faas.trigger "http".
const (
	mdTrigger         = "fusionize-trigger"
	httpTriggerHeader = "Fusionize-Trigger"
)

// headerMatcher passes the W3C trace context headers and Fusionize-*
// headers on as metadata, and the gateway's usual headers as it does by
// default.
func headerMatcher(key string) (string, bool) {
	switch k := textproto.CanonicalMIMEHeaderKey(key); {
	case k == "Traceparent" || k == "Tracestate" || strings.HasPrefix(k, "Fusionize-"):
		return strings.ToLower(k), true
	}
	return runtime.DefaultHeaderMatcher(key)
}
