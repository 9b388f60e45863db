package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/fusionize/fusionize/host"
	wire "github.com/fusionize/fusionize/host/transport/lambda"
	"github.com/fusionize/fusionize/runtime"
)

// Server is what the handler needs of a host.
type Server = runtime.Server

// Handler serves Lambda invocations with a host. Its Handle is the function
// aws-lambda-go's loop calls for every event.
//
// After the response is posted and before the loop asks for the next event,
// the handler finishes the invocation's in-memory async work and flushes its
// spans: the loop closes the response reader at exactly that point, and
// Lambda freezes the environment only once the next event is asked for, so
// that work runs and is billed, as on the platform.
type Handler struct {
	host    Server
	entries *runtime.EntrySpans // nil: spans are not held back
	flush   func(context.Context) error
	log     *slog.Logger
}

// NewHandler returns a handler serving with h. flush, if not nil, is called
// after each invocation's work is done (span delivery).
func NewHandler(h Server, flush func(context.Context) error, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{host: h, flush: flush, log: log}
}

// billSpans makes the handler hold back each invocation's entry span until
// the invocation ends and give it its CPU time and billed duration; e must
// be the recorder of the handler's host.
func (h *Handler) billSpans(e *runtime.EntrySpans) { h.entries = e }

// Handle runs one invocation.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (io.Reader, error) {
	start := time.Now()
	req, err := wire.DecodeRequest(payload)
	if err != nil {
		return nil, h.finish(ctx, messages.InvokeResponse_Error{Type: wire.ErrorTypePrefix + "BAD_ARGUMENT", Message: "host " + h.host.Name() + ": " + err.Error()})
	}
	if req.Ping {
		body, err := json.Marshal(wire.Response{Output: []byte(h.host.Name())})
		if err != nil {
			return nil, err
		}
		return bytes.NewReader(body), nil
	}
	// The invocation's own context (Lambda's deadline) outlives Handle:
	// the work after the response runs under it.
	invocation := ctx
	if d, ok := req.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	c := req.Call()
	c.Trigger = host.TriggerOther
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		c.InvocationID = lc.AwsRequestID
		if !host.ValidTraceID(c.TraceID) {
			c.TraceID = traceIDOf(lc.AwsRequestID)
		}
	}
	if h.entries != nil {
		h.entries.Begin(c.Task, c.Caller, c.ParentID, start)
	}
	failedBefore := h.host.Stats().AsyncFailed
	out, err := h.host.Serve(ctx, c)
	if err != nil {
		fe := wire.ErrorOf(err, req.Task, h.host.Name())
		return nil, h.finish(ctx, messages.InvokeResponse_Error{Type: fe.Type, Message: fe.Message})
	}
	if req.Async {
		// An Event invocation is the async call itself: run it to the end
		// here, so that a failure is a function error Lambda retries.
		runtime.Settle(ctx, h.host)
		if h.host.Stats().AsyncFailed > failedBefore {
			return nil, h.finish(ctx, messages.InvokeResponse_Error{Type: wire.ErrorTypePrefix + "FAILED", Message: "async call of task " + req.Task + " on host " + h.host.Name() + " failed (see its span)"})
		}
	}
	body, err := json.Marshal(wire.Response{Output: out})
	if err != nil {
		return nil, h.finish(ctx, messages.InvokeResponse_Error{Type: wire.ErrorTypePrefix + "INTERNAL", Message: err.Error()})
	}
	return &response{Reader: bytes.NewReader(body), close: func() { _ = h.finish(invocation, nil) }}, nil
}

// finish waits for the invocation's async work, flushes spans and returns
// err (an invocation error, or nil).
func (h *Handler) finish(ctx context.Context, err error) error {
	runtime.Settle(ctx, h.host)
	if h.entries != nil {
		h.entries.End()
	}
	if h.flush != nil {
		if ferr := h.flush(ctx); ferr != nil {
			h.log.Warn("spans not delivered", "err", ferr)
		}
	}
	if err == nil {
		return nil
	}
	return err
}

// response is what Handle returns: aws-lambda-go posts a reader as the
// response body as it is (it encodes to "{}": no exported fields) and closes
// it after posting and before asking for the next event.
type response struct {
	*bytes.Reader
	close func()
}

func (r *response) Close() error {
	r.close()
	return nil
}

// traceIDOf derives a 32-hex-digit trace id from a Lambda request id (a
// UUID), so a request that entered through Lambda is traced by its id.
func traceIDOf(requestID string) string {
	b := make([]byte, 0, 32)
	for i := 0; i < len(requestID) && len(b) < 32; i++ {
		c := requestID[i]
		if ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') {
			b = append(b, c)
		}
	}
	if len(b) != 32 {
		return ""
	}
	return string(b)
}
