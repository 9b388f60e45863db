package https

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/wire"
)

// CreateTaskRequest is the body of Cloud Tasks' CreateTask
// (POST {queue}/tasks) in its REST form, as far as the transport uses it.
type CreateTaskRequest struct {
	Task QueueTask `json:"task"`
}

// QueueTask is a Cloud Tasks task with an HTTP target.
type QueueTask struct {
	Name        string      `json:"name,omitempty"`
	HTTPRequest HTTPRequest `json:"httpRequest"`
}

// HTTPRequest is the HTTP target of a task: what the queue sends, and
// re-sends until it is answered 2xx.
type HTTPRequest struct {
	URL        string            `json:"url"`
	HTTPMethod string            `json:"httpMethod,omitempty"` // default POST
	Headers    map[string]string `json:"headers,omitempty"`
	Body       []byte            `json:"body,omitempty"` // base64 in JSON
	OIDCToken  *OIDCToken        `json:"oidcToken,omitempty"`
}

// OIDCToken asks the queue to authenticate its deliveries with an ID token.
type OIDCToken struct {
	ServiceAccountEmail string `json:"serviceAccountEmail"`
	Audience            string `json:"audience,omitempty"`
}

// Enqueue hands the async call c for the function at url to the queue and
// returns once the queue accepted it. The queue delivers it at least once:
// the callee's runtime runs the call to its end before answering, so a
// failed call is redelivered with backoff and, past the queue's attempts,
// kept as a dead letter.
func (t *Transport) Enqueue(ctx context.Context, url string, c host.Call) error {
	if t.opts.Queue == "" {
		return fail(c, url, host.CodeUnavailable, "async call, and the https transport has no queue (Options.Queue): Cloud Functions has no async invoke")
	}
	c.Async = true
	env, err := json.Marshal(wire.NewRequest(c, deadlineOf(ctx)))
	if err != nil {
		return fail(c, url, host.CodeInternal, "encode invocation: %v", err)
	}
	hr := HTTPRequest{URL: url, HTTPMethod: http.MethodPost, Headers: map[string]string{"Content-Type": "application/json"}, Body: env}
	if tp := c.Traceparent(); tp != "" {
		hr.Headers["traceparent"] = tp
		if c.TraceState != "" {
			hr.Headers["tracestate"] = c.TraceState
		}
	}
	if t.opts.IDTokens != nil && strings.HasPrefix(url, "https://") {
		hr.OIDCToken = &OIDCToken{ServiceAccountEmail: t.opts.ServiceAccount, Audience: url}
	}
	if len(env) > MaxTaskBody {
		return fail(c, url, host.CodeTooLarge, "async invocation of %d bytes (input %d bytes) exceeds Cloud Tasks' task limit of %d bytes", len(env), len(c.Input), MaxTaskBody)
	}
	body, err := json.Marshal(CreateTaskRequest{Task: QueueTask{HTTPRequest: hr}})
	if err != nil {
		return fail(c, url, host.CodeInternal, "encode task: %v", err)
	}
	queue := strings.TrimSuffix(t.opts.Queue, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, queue+"/tasks", bytes.NewReader(body))
	if err != nil {
		return fail(c, url, host.CodeBadArgument, "queue %s: %v", queue, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if t.opts.Place != "" {
		req.Header.Set(rtt.CallerPlaceHeader, t.opts.Place)
	}
	if t.opts.QueueToken != nil {
		tok, err := t.opts.QueueToken(ctx)
		if err != nil {
			return fail(c, url, host.CodeUnavailable, "no access token for queue %s: %v", queue, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := t.opts.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fail(c, url, host.CodeDeadline, "queue %s did not accept the call in time: %v", queue, err)
		}
		return fail(c, url, host.CodeUnavailable, "queue %s: %v", queue, err)
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return fail(c, url, host.CodeTooMany, "queue %s refused the call: %s: %s", queue, resp.Status, brief(data))
	case resp.StatusCode == http.StatusNotFound:
		return fail(c, url, host.CodeUnavailable, "no queue %s: %s", queue, brief(data))
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		return fail(c, url, host.CodeTooLarge, "queue %s refused the call: %s", queue, brief(data))
	}
	return fail(c, url, host.CodeUnavailable, "queue %s refused the call: %s: %s", queue, resp.Status, brief(data))
}

func deadlineOf(ctx context.Context) (d time.Time) {
	d, _ = ctx.Deadline()
	return d
}
