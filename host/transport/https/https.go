// Package https is the host transport for fusion groups deployed as HTTP
// functions (Google Cloud Functions 2nd gen, served by Cloud Run): a sync
// call to a task of such a group is a POST of the invocation envelope
// (package wire) to the function's URL, with a Google ID token whose
// audience is the URL on the real cloud, none for an emulator on loopback.
// An async call is enqueued as a Cloud Tasks HTTP task aimed at the same URL
// (Options.Queue): the caller does not wait, the queue delivers at least
// once with retries and keeps what keeps failing as a dead letter.
//
//	tr := https.New(https.Options{Queue: "http://127.0.0.1:8123/v2/projects/p/locations/l/queues/fusionize"})
//	mux := transport.NewMux()
//	mux.Register(api.KindHTTPS, tr)
//	// a host with Transport: mux routes calls to groups whose endpoint is
//	// api.Endpoint{Kind: api.KindHTTPS, URL: "https://…"} here; directly:
//	out, err := tr.Call(ctx, url, host.Call{Task: "echo", Input: in})
//
// The trace context travels in the envelope and in a W3C traceparent header
// (so Cloud Run's own tracing joins the trace). A runtime (runtime/gcf)
// answers 200 with a wire.Response, or an error status with an ErrorBody
// whose reason names the host code, which the transport restores exactly.
// Answers that are not a runtime's are Cloud Run's own and map by status:
//
//	404 no such function        CodeNotFound
//	413 request too large       CodeTooLarge (also checked before sending: 32 MB)
//	429 no instance available   retried with backoff within the deadline, then CodeTooMany
//	500, 502, 503 crashed, out of memory, no healthy instance  CodeUnavailable
//	504 the function's timeout  CodeDeadline
//
// Every error names the task and the URL. With Options.Place set, each
// call and each enqueued task names the calling host's place in the
// api/rtt.CallerPlaceHeader, for an emulated cloud to charge the round trip
// between places (emulators/netem).
package https

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/wire"
)

// MaxBody is Cloud Run's limit on a request and on a response (HTTP/1).
const MaxBody = 32 << 20

// MaxTaskBody is Cloud Tasks' limit on one task (its HTTP body included).
const MaxTaskBody = 1 << 20

// ErrorBody is the body of a runtime's error answer.
type ErrorBody struct {
	Error wire.Error `json:"error"`
}

// StatusOf is the HTTP status a runtime answers a failure of code with.
// The body says the exact code; the status tells proxies and people the
// class of failure.
func StatusOf(code host.Code) int {
	switch code {
	case host.CodeUnknownTask, host.CodeNotFound:
		return http.StatusNotFound
	case host.CodeBadArgument:
		return http.StatusBadRequest
	case host.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case host.CodeTooMany:
		return http.StatusTooManyRequests
	case host.CodeDeadline:
		return http.StatusGatewayTimeout
	case host.CodeUnavailable:
		return http.StatusServiceUnavailable
	case host.CodeFailed, host.CodeDepth:
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// Options configure a Transport.
type Options struct {
	// HTTPClient carries the requests. Default: pooled keep-alive
	// connections and no overall timeout (the caller's context bounds
	// each call).
	HTTPClient *http.Client
	// IDTokens, when set, is asked for a Google ID token for each https://
	// URL (the audience); the token goes in the Authorization header.
	// MetadataIDTokens is the one inside Google Cloud. Nil: no tokens (an
	// emulator). Plain http:// URLs never get a token.
	IDTokens func(ctx context.Context, audience string) (string, error)
	// Queue is the Cloud Tasks queue async calls are enqueued on, as the
	// base URL of its REST resource:
	// "https://cloudtasks.googleapis.com/v2/projects/P/locations/L/queues/Q"
	// on the real cloud, an emulated queue's URL (emulators/tasks)
	// otherwise. Empty: async calls fail with CodeUnavailable.
	Queue string
	// QueueToken, when set, gives the OAuth access token of each request
	// to Queue (the real Cloud Tasks API wants one).
	QueueToken func(ctx context.Context) (string, error)
	// ServiceAccount is the email the queue's OIDC tokens are minted for
	// when IDTokens is set (Cloud Tasks authenticates its deliveries).
	ServiceAccount string
	// ThrottleBackoff is the first wait after a 429; it doubles up to 1 s
	// (with jitter), never past the caller's deadline. Default 20 ms.
	ThrottleBackoff time.Duration
	// Place is where the calling host runs ("gcp/us-east4"), sent in the
	// rtt.CallerPlaceHeader of each call and of each task it enqueues, so
	// that an emulated cloud can charge the round trip between places; ""
	// sends none.
	Place string
}

// Transport calls HTTP functions. It is safe for concurrent use.
type Transport struct {
	opts Options
}

var _ host.Transport = (*Transport)(nil)

// New returns a Transport.
func New(opts Options) *Transport {
	if opts.ThrottleBackoff <= 0 {
		opts.ThrottleBackoff = 20 * time.Millisecond
	}
	if opts.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		tr.DisableCompression = true
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	return &Transport{opts: opts}
}

// Close releases idle connections.
func (t *Transport) Close() error {
	t.opts.HTTPClient.CloseIdleConnections()
	return nil
}

// Invoke implements host.Transport: it calls the function at the target's
// URL (sync) or enqueues the call for it (async).
func (t *Transport) Invoke(ctx context.Context, to host.Target, c host.Call) ([]byte, error) {
	if to.Endpoint.Kind != api.KindHTTPS {
		return nil, &host.Error{Task: c.Task, Code: host.CodeUnavailable, Msg: fmt.Sprintf("in group %q at %s: the https transport calls only https endpoints", to.Group, to.Endpoint)}
	}
	if c.Async {
		return nil, t.Enqueue(ctx, to.Endpoint.URL, c)
	}
	return t.Call(ctx, to.Endpoint.URL, c)
}

// Call posts c to the function at url and returns the task's output. It is
// the sync invoke path; an async c is sent the same way and waited for (use
// Enqueue not to wait).
func (t *Transport) Call(ctx context.Context, url string, c host.Call) ([]byte, error) {
	if n := base64.StdEncoding.EncodedLen(len(c.Input)); n > MaxBody {
		return nil, fail(c, url, host.CodeTooLarge, "input of %d bytes (%d in base64 in the JSON envelope) exceeds Cloud Run's request limit of %d bytes", len(c.Input), n, MaxBody)
	}
	deadline, _ := ctx.Deadline()
	body, err := json.Marshal(wire.NewRequest(c, deadline))
	if err != nil {
		return nil, fail(c, url, host.CodeInternal, "encode invocation: %v", err)
	}
	if len(body) > MaxBody {
		return nil, fail(c, url, host.CodeTooLarge, "invocation of %d bytes (input %d bytes, base64 in a JSON envelope) exceeds Cloud Run's request limit of %d bytes", len(body), len(c.Input), MaxBody)
	}
	return t.post(ctx, url, c, body)
}

// Ping posts a ping envelope to url and returns the name of the host that
// answered: a deployer's check that a new function loads its group and
// serves.
func (t *Transport) Ping(ctx context.Context, url string) (string, error) {
	body, err := json.Marshal(wire.Request{Version: wire.Version, Ping: true})
	if err != nil {
		return "", err
	}
	out, err := t.post(ctx, url, host.Call{Task: "(ping)"}, body)
	return string(out), err
}

// post sends body to url, retrying Cloud Run's 429 within the deadline.
func (t *Transport) post(ctx context.Context, url string, c host.Call, body []byte) ([]byte, error) {
	backoff := t.opts.ThrottleBackoff
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, fail(c, url, host.CodeBadArgument, "bad URL: %v", err)
		}
		req.Header.Set("Content-Type", "application/json")
		if t.opts.Place != "" {
			req.Header.Set(rtt.CallerPlaceHeader, t.opts.Place)
		}
		if tp := c.Traceparent(); tp != "" {
			req.Header.Set("traceparent", tp)
			if c.TraceState != "" {
				req.Header.Set("tracestate", c.TraceState)
			}
		} else if host.ValidTraceID(c.TraceID) {
			// A trace with no parent span yet (a client's request):
			// Cloud Run's own header names it, so its request log does.
			req.Header.Set("X-Cloud-Trace-Context", c.TraceID+map[bool]string{false: ";o=1", true: ";o=0"}[c.Unsampled])
		}
		if t.opts.IDTokens != nil && strings.HasPrefix(url, "https://") {
			tok, err := t.opts.IDTokens(ctx, url)
			if err != nil {
				return nil, fail(c, url, host.CodeUnavailable, "no ID token for audience %s: %v", url, err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := t.opts.HTTPClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fail(c, url, host.CodeDeadline, "no answer in time: %v", err)
			}
			return nil, fail(c, url, host.CodeUnavailable, "request failed: %v", err)
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
		resp.Body.Close()
		if rerr != nil {
			if ctx.Err() != nil {
				return nil, fail(c, url, host.CodeDeadline, "answer cut short: %v", rerr)
			}
			return nil, fail(c, url, host.CodeUnavailable, "reading the answer (%s): %v", resp.Status, rerr)
		}
		if resp.StatusCode == http.StatusOK {
			var r wire.Response
			if err := json.Unmarshal(data, &r); err != nil {
				return nil, fail(c, url, host.CodeInternal, "answer is not a Fusionize response: %v (%.200q)", err, data)
			}
			return r.Output, nil
		}
		if e, ok := runtimeError(data); ok {
			he := e.HostError()
			if he.Task == "" {
				he.Task = c.Task
			}
			he.Msg += " (via " + url + ")"
			return nil, he
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			return nil, platformError(c, url, resp.StatusCode, data)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if n, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && time.Duration(n)*time.Second > wait {
			wait = time.Duration(n) * time.Second
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return nil, fail(c, url, host.CodeTooMany, "throttled by Cloud Run (429: %s) and no time left to retry", brief(data))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fail(c, url, host.CodeDeadline, "throttled by Cloud Run, deadline passed while waiting to retry: %v", ctx.Err())
		case <-timer.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// runtimeError decodes a runtime's error body.
func runtimeError(data []byte) (wire.Error, bool) {
	var b ErrorBody
	if json.Unmarshal(data, &b) != nil {
		return wire.Error{}, false
	}
	if _, ok := wire.CodeOf(b.Error.Reason); !ok {
		return wire.Error{}, false
	}
	return b.Error, true
}

// platformError maps an answer of Cloud Run itself (no runtime error body).
func platformError(c host.Call, url string, status int, data []byte) error {
	code := host.CodeUnavailable
	what := "the function failed"
	switch status {
	case http.StatusNotFound:
		code, what = host.CodeNotFound, "no such function"
	case http.StatusRequestEntityTooLarge:
		code, what = host.CodeTooLarge, "request or response over Cloud Run's 32 MB"
	case http.StatusGatewayTimeout:
		code, what = host.CodeDeadline, "the function's timeout passed"
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable:
		what = "the instance crashed, ran out of memory or could not start"
	case http.StatusUnauthorized, http.StatusForbidden:
		what = "not authorized (an ID token for the function's URL is needed)"
	case http.StatusBadRequest:
		code, what = host.CodeBadArgument, "the request was refused"
	}
	return fail(c, url, code, "%s: %d %s: %s", what, status, http.StatusText(status), brief(data))
}

func brief(data []byte) string {
	s := strings.TrimSpace(string(data))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func fail(c host.Call, url string, code host.Code, format string, args ...any) error {
	return &host.Error{Task: c.Task, Host: url, Code: code, Msg: fmt.Sprintf(format, args...)}
}
