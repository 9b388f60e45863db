package gcf

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/https"
	"github.com/fusionize/fusionize/host/transport/wire"
	"github.com/fusionize/fusionize/runtime"
)

// Server is what the handler needs of a host.
type Server = runtime.Server

// Handler serves invocations of a fusion group as an HTTP function: a POST
// of a wire.Request, answered 200 with a wire.Response, or with the status
// https.StatusOf gives the failure's code and an https.ErrorBody naming it.
//
// The trace context comes from the envelope, else from a W3C traceparent
// header, else from Cloud Run's X-Cloud-Trace-Context (so a request that
// entered through Cloud Run is traced by Google's id).
//
// Before it answers, the handler waits for the invocation's in-memory async
// work, gives the entry span the invocation's CPU time (runtime.EntrySpans)
// and flushes its spans: Cloud Run bills, and gives CPU to, an
// instance only while it handles a request (request-based billing), so
// work left for after the response would be throttled to almost nothing
// until the next request arrives, or lost when the instance is reclaimed.
type Handler struct {
	host    Server
	flush   func(context.Context) error
	log     *slog.Logger
	entries *runtime.EntrySpans // nil: spans are not held back
}

// NewHandler returns a handler serving with h. flush, if not nil, is called
// after each invocation's work is done and before the answer (span
// delivery).
func NewHandler(h Server, flush func(context.Context) error, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{host: h, flush: flush, log: log}
}

// ServeHTTP runs one invocation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		h.answerError(w, wire.Error{Reason: wire.Reason(host.CodeBadArgument), Host: h.host.Name(), Message: "a Fusionize function takes POST, not " + r.Method})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, https.MaxBody+1))
	if err != nil {
		h.answerError(w, wire.Error{Reason: wire.Reason(host.CodeBadArgument), Host: h.host.Name(), Message: "reading the request: " + err.Error()})
		return
	}
	if len(body) > https.MaxBody {
		h.answerError(w, wire.Error{Reason: wire.Reason(host.CodeTooLarge), Host: h.host.Name(), Message: "request over " + strconv.Itoa(https.MaxBody) + " bytes"})
		return
	}
	req, err := DecodeRequest(body, r.Header)
	if err != nil {
		h.answerError(w, wire.Error{Reason: wire.Reason(host.CodeBadArgument), Host: h.host.Name(), Message: err.Error()})
		return
	}
	if req.Ping {
		h.answer(w, []byte(h.host.Name()))
		return
	}
	ctx := r.Context()
	if d, ok := req.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	failedBefore := h.host.Stats().AsyncFailed
	c := req.Call()
	c.Trigger = host.TriggerHTTP
	if h.entries != nil {
		h.entries.Begin(c.Task, c.Caller, c.ParentID, start)
	}
	out, err := h.host.Serve(ctx, c)
	runtime.Settle(ctx, h.host)
	if h.entries != nil {
		h.entries.End()
	}
	if err == nil && req.Async && h.host.Stats().AsyncFailed > failedBefore {
		// A queued async call is the call itself: it ran to the end here,
		// and a failure is an error answer the queue retries.
		err = &host.Error{Task: req.Task, Host: h.host.Name(), Code: host.CodeFailed, Msg: "async call failed (see its span)"}
	}
	h.doFlush(ctx)
	if err != nil {
		h.answerError(w, wire.ErrorOf(err, req.Task, h.host.Name()))
		return
	}
	h.answer(w, out)
}

// DecodeRequest parses an invocation: the envelope in body, with the trace
// context of a W3C traceparent or Cloud Run X-Cloud-Trace-Context header
// where the envelope has none.
func DecodeRequest(body []byte, hdr http.Header) (wire.Request, error) {
	req, err := wire.DecodeRequest(body)
	if err != nil {
		return req, err
	}
	if req.Traceparent != "" {
		if _, ok := host.ParseTraceparent(req.Traceparent); ok {
			return req, nil
		}
	}
	if tp := hdr.Get("traceparent"); tp != "" {
		if _, ok := host.ParseTraceparent(tp); ok {
			req.Traceparent, req.Tracestate = tp, hdr.Get("tracestate")
			return req, nil
		}
	}
	if host.ValidTraceID(req.TraceID) {
		return req, nil
	}
	// X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1, TRACE_ID 32 hex digits.
	if v := hdr.Get("X-Cloud-Trace-Context"); len(v) >= 32 {
		if tid := strings.ToLower(v[:32]); host.ValidTraceID(tid) {
			req.TraceID = tid
		}
	}
	return req, nil
}

func (h *Handler) doFlush(ctx context.Context) {
	if h.flush == nil {
		return
	}
	if err := h.flush(context.WithoutCancel(ctx)); err != nil {
		h.log.Warn("spans not delivered", "err", err)
	}
}

func (h *Handler) answer(w http.ResponseWriter, out []byte) {
	body, err := json.Marshal(wire.Response{Output: out})
	if err != nil {
		h.answerError(w, wire.Error{Reason: wire.Reason(host.CodeInternal), Host: h.host.Name(), Message: err.Error()})
		return
	}
	if len(body) > https.MaxBody {
		h.answerError(w, wire.Error{Reason: wire.Reason(host.CodeTooLarge), Host: h.host.Name(), Message: "output of " + strconv.Itoa(len(out)) + " bytes exceeds Cloud Run's response limit of " + strconv.Itoa(https.MaxBody) + " bytes"})
		return
	}
	write(w, http.StatusOK, body)
}

func (h *Handler) answerError(w http.ResponseWriter, e wire.Error) {
	code, _ := wire.CodeOf(e.Reason)
	body, _ := json.Marshal(https.ErrorBody{Error: e})
	write(w, https.StatusOf(code), body)
}

func write(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// failing is the handler of a function whose group did not load: every
// request fails with CodeUnavailable and the load error, so a deployer's
// ping reports the runtime's own message.
func failing(name string, cause error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e := wire.Error{Reason: wire.Reason(host.CodeUnavailable), Host: name, Message: "the group did not load: " + cause.Error()}
		var he *host.Error
		if errors.As(cause, &he) {
			e.Task = he.Task
		}
		body, _ := json.Marshal(https.ErrorBody{Error: e})
		write(w, http.StatusServiceUnavailable, body)
	}
}
