// Package lambda is the host transport for fusion groups deployed as AWS
// Lambda functions: a call to a task of such a group is an Invoke of the
// group's function at the setup version's qualifier, through the real
// aws-sdk-go-v2 client — RequestResponse for a sync call, Event for an
// async one. The call travels in a JSON envelope (Request) with the trace
// context, the caller and the depth; runtime/lambda unpacks it on the other
// side and reports failures as function errors whose errorType names the
// host's error code, so a failure keeps its code across the hop.
//
//	tr := lambda.New(lambda.Options{Region: "us-east-1"})
//	mux.Register(api.KindLambda, tr) // a host/transport.Mux
//	out, err := tr.Call(ctx, api.Endpoint{Kind: api.KindLambda, FunctionName: "fusionize-iot-CA",
//		Qualifier: "v3", Region: "us-east-1", APIEndpoint: "http://127.0.0.1:9001"}, host.Call{Task: "CA", Input: in})
//
// Errors map to host codes: function errors by their errorType (a platform
// error such as a crashed or out-of-memory environment is CodeUnavailable,
// a timeout CodeDeadline), 404 ResourceNotFoundException to CodeUnavailable
// (the function or alias is not there: a removed setup version's group is
// unreachable, and a client retries by fresher routes, as for a draining
// host),
// 413 RequestTooLargeException and the payload limits (6 MB sync, 1 MB
// async, checked before sending) to CodeTooLarge, and 429
// TooManyRequestsException is retried with backoff within the caller's
// deadline, then CodeTooMany. Every error names the task and the function.
//
// With Options.Place set, every request names the calling host's place in
// the api/rtt.CallerPlaceHeader (added by a middleware of the SDK client),
// for an emulated Lambda to charge the round trip between places.
package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/wire"
)

// Payload limits of Lambda's Invoke API.
const (
	MaxSyncPayload  = 6 << 20 // RequestResponse request and response
	MaxAsyncPayload = 1 << 20 // Event request
)

// qualified names an endpoint's function and qualifier for errors:
// "name:qualifier".
func qualified(ep api.Endpoint) string {
	if ep.Qualifier == "" {
		return ep.FunctionName
	}
	return ep.FunctionName + ":" + ep.Qualifier
}

// Options configure a Transport.
type Options struct {
	// Region is the default region of functions that name none.
	Region string
	// Endpoint overrides the Lambda API endpoint of functions that name
	// none (an emulator); "" uses AWS's.
	Endpoint string
	// Credentials sign requests. Nil: the SDK's default chain is not
	// consulted (hosts must not read files they were not given); static
	// credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/
	// AWS_SESSION_TOKEN in the environment are used, as a Lambda execution
	// environment provides them.
	Credentials aws.CredentialsProvider
	// HTTPClient carries the requests; default a client with pooled
	// keep-alive connections.
	HTTPClient *http.Client
	// ThrottleBackoff is the first wait after a 429; it doubles up to 1 s
	// (with jitter), never past the caller's deadline. Default 20 ms.
	ThrottleBackoff time.Duration
	// Place is where the calling host runs ("aws/us-east-1"), sent in the
	// rtt.CallerPlaceHeader of each invoke so that an emulated Lambda can
	// charge the round trip between places; "" sends none.
	Place string
}

// Transport invokes functions. It is safe for concurrent use.
type Transport struct {
	opts Options

	mu      sync.Mutex
	clients map[[2]string]*awslambda.Client // by region, endpoint
}

// New returns a Transport.
func New(opts Options) *Transport {
	if opts.ThrottleBackoff <= 0 {
		opts.ThrottleBackoff = 20 * time.Millisecond
	}
	if opts.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	if opts.Credentials == nil {
		opts.Credentials = envCredentials{}
	}
	return &Transport{opts: opts, clients: map[[2]string]*awslambda.Client{}}
}

func (t *Transport) client(ep api.Endpoint) *awslambda.Client {
	region, endpoint := ep.Region, ep.APIEndpoint
	if region == "" {
		region = t.opts.Region
	}
	if endpoint == "" {
		endpoint = t.opts.Endpoint
	}
	key := [2]string{region, endpoint}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clients[key]; ok {
		return c
	}
	c := awslambda.New(awslambda.Options{
		Region:      region,
		Credentials: t.opts.Credentials,
		HTTPClient:  t.opts.HTTPClient,
		// Throttling is retried here, within the caller's deadline; other
		// failures are answers the caller must see at once.
		RetryMaxAttempts: 1,
		APIOptions:       t.apiOptions(),
		BaseEndpoint: func() *string {
			if endpoint == "" {
				return nil
			}
			return aws.String(endpoint)
		}(),
	})
	t.clients[key] = c
	return c
}

var _ host.Transport = (*Transport)(nil)

// apiOptions adds the caller's place to every request of a client.
func (t *Transport) apiOptions() []func(*middleware.Stack) error {
	if t.opts.Place == "" {
		return nil
	}
	return []func(*middleware.Stack) error{smithyhttp.AddHeaderValue(rtt.CallerPlaceHeader, t.opts.Place)}
}

// Invoke implements host.Transport for endpoints of kind api.KindLambda.
func (t *Transport) Invoke(ctx context.Context, to host.Target, c host.Call) ([]byte, error) {
	return t.Call(ctx, to.Endpoint, c)
}

// Call invokes c on the function of ep and returns the task's output. An
// async call returns once Lambda accepted the event.
func (t *Transport) Call(ctx context.Context, f api.Endpoint, c host.Call) ([]byte, error) {
	if f.Kind != api.KindLambda {
		return nil, t.fail(c, f, host.CodeInternal, "not a Lambda endpoint: %s", f)
	}
	deadline, _ := ctx.Deadline()
	req := wire.NewRequest(c, deadline)
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, t.fail(c, f, host.CodeInternal, "encode invocation: %v", err)
	}
	in := &awslambda.InvokeInput{FunctionName: aws.String(f.FunctionName), Payload: payload}
	if f.Qualifier != "" {
		in.Qualifier = aws.String(f.Qualifier)
	}
	limit := MaxSyncPayload
	if c.Async {
		in.InvocationType = types.InvocationTypeEvent
		limit = MaxAsyncPayload
	}
	if len(payload) > limit {
		return nil, t.fail(c, f, host.CodeTooLarge, "invocation of %d bytes (input %d bytes, base64 in a JSON envelope) exceeds Lambda's %s payload limit of %d bytes",
			len(payload), len(c.Input), map[bool]string{true: "async", false: "sync"}[c.Async], limit)
	}
	cl := t.client(f)
	var optFns []func(*awslambda.Options)
	if h := xrayHeader(&c); h != "" {
		optFns = append(optFns, func(o *awslambda.Options) {
			o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue("X-Amzn-Trace-Id", h))
		})
	}
	backoff := t.opts.ThrottleBackoff
	for {
		out, err := cl.Invoke(ctx, in, optFns...)
		if err == nil {
			return t.answer(c, f, out)
		}
		var throttled *types.TooManyRequestsException
		if !errors.As(err, &throttled) {
			return nil, t.invokeError(ctx, c, f, err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if s := aws.ToString(throttled.RetryAfterSeconds); s != "" {
			if n, perr := strconv.Atoi(s); perr == nil && time.Duration(n)*time.Second > wait {
				wait = time.Duration(n) * time.Second
			}
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return nil, t.fail(c, f, host.CodeTooMany, "throttled by Lambda (429 TooManyRequestsException: %s) and no time left to retry", aws.ToString(throttled.Message))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, t.fail(c, f, host.CodeDeadline, "throttled by Lambda, deadline passed while waiting to retry: %v", ctx.Err())
		case <-timer.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// xrayHeader is c's trace context as an X-Ray tracing header, the form
// Lambda takes a caller's trace in (X-Amzn-Trace-Id): the W3C trace id split
// as Root=1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY, the parent span where there
// is one, and the sampled flag. "" when c has no valid trace id.
func xrayHeader(c *host.Call) string {
	if !host.ValidTraceID(c.TraceID) {
		return ""
	}
	h := "Root=1-" + c.TraceID[:8] + "-" + c.TraceID[8:]
	if tp, ok := host.ParseTraceparent(c.Traceparent()); ok {
		h += fmt.Sprintf(";Parent=%016x", tp.Parent)
	}
	if c.Unsampled {
		return h + ";Sampled=0"
	}
	return h + ";Sampled=1"
}

// answer turns a completed Invoke into the task's output or error.
func (t *Transport) answer(c host.Call, f api.Endpoint, out *awslambda.InvokeOutput) ([]byte, error) {
	if out.FunctionError != nil {
		var fe FunctionError
		if err := json.Unmarshal(out.Payload, &fe); err != nil || fe.Type == "" {
			return nil, t.fail(c, f, host.CodeInternal, "function error %q with a payload that is not an error: %.200q", aws.ToString(out.FunctionError), out.Payload)
		}
		return nil, t.functionError(c, f, fe)
	}
	if c.Async {
		return nil, nil
	}
	var r Response
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		return nil, t.fail(c, f, host.CodeInternal, "answer is not a Fusionize response: %v", err)
	}
	return r.Output, nil
}

// functionError maps a function error. Fusionize errors keep their code and
// origin; the platform's own (the runtime crashed, ran out of memory or
// time) name what Lambda said.
func (t *Transport) functionError(c host.Call, f api.Endpoint, fe FunctionError) error {
	if code, ok := codeOfType(fe.Type); ok {
		return t.fail(c, f, code, "%s", fe.Message)
	}
	code := host.CodeUnavailable
	switch fe.Type {
	case "Sandbox.Timedout":
		code = host.CodeDeadline
	case "Function.ResponseSizeTooLarge":
		code = host.CodeTooLarge
	}
	return t.fail(c, f, code, "function error %s: %s", fe.Type, fe.Message)
}

// invokeError maps an error of the Invoke call itself.
func (t *Transport) invokeError(ctx context.Context, c host.Call, f api.Endpoint, err error) error {
	if ctx.Err() != nil {
		return t.fail(c, f, host.CodeDeadline, "no answer in time: %v", err)
	}
	var notFound *types.ResourceNotFoundException
	var tooLarge *types.RequestTooLargeException
	var api smithy.APIError
	switch {
	case errors.As(err, &notFound):
		return t.fail(c, f, host.CodeUnavailable, "no such function or qualifier (removed?): %s", aws.ToString(notFound.Message))
	case errors.As(err, &tooLarge):
		return t.fail(c, f, host.CodeTooLarge, "refused by Lambda: %s", aws.ToString(tooLarge.Message))
	case errors.As(err, &api):
		return t.fail(c, f, host.CodeUnavailable, "Lambda refused the invoke: %s: %s", api.ErrorCode(), api.ErrorMessage())
	}
	return t.fail(c, f, host.CodeUnavailable, "invoke failed: %v", err)
}

func (t *Transport) fail(c host.Call, f api.Endpoint, code host.Code, format string, args ...any) error {
	return &host.Error{Task: c.Task, Host: "lambda:" + qualified(f), Code: code, Msg: fmt.Sprintf(format, args...)}
}

// envCredentials reads the static credentials a Lambda execution
// environment (or a user's shell) puts in the environment.
type envCredentials struct{}

func (envCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	return credentials.NewStaticCredentialsProvider(getenv("AWS_ACCESS_KEY_ID", "fusionize"), getenv("AWS_SECRET_ACCESS_KEY", "fusionize"), getenv("AWS_SESSION_TOKEN", "")).Retrieve(ctx)
}

// Ping invokes f with a ping envelope and returns the name of the host that
// answered: a new function's first invocation, which starts its first
// execution environment and so proves the package loads and serves.
func (t *Transport) Ping(ctx context.Context, f api.Endpoint) (string, error) {
	payload, err := json.Marshal(Request{Version: WireVersion, Ping: true})
	if err != nil {
		return "", err
	}
	in := &awslambda.InvokeInput{FunctionName: aws.String(f.FunctionName), Payload: payload}
	if f.Qualifier != "" {
		in.Qualifier = aws.String(f.Qualifier)
	}
	c := host.Call{Task: "(ping)"}
	out, err := t.client(f).Invoke(ctx, in)
	if err != nil {
		return "", t.invokeError(ctx, c, f, err)
	}
	name, err := t.answer(c, f, out)
	return string(name), err
}
