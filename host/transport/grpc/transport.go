package grpctransport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/credentials/local"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/host"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// Defaults of Options and ServerOptions.
const (
	// DefaultMaxPayload equals host.Config's default MaxPayload.
	DefaultMaxPayload = 4 << 20
	// DefaultOverhead is the room for the rest of a message (task name,
	// trace id, …) on top of the payload.
	DefaultOverhead = 64 << 10
	// ReceiveHeadroom multiplies the payload limit for the size of messages
	// a side receives: a message up to ReceiveHeadroom × MaxPayload +
	// Overhead is read, so that a payload over the limit reaches the
	// host's own check (CodeTooLarge naming the task and the limit) rather
	// than gRPC's "received message larger than max"; beyond it gRPC
	// refuses the message before reading its body.
	ReceiveHeadroom = 2
	// DefaultMaxRetries is the number of retries of a call that provably
	// never left the caller.
	DefaultMaxRetries = 2
	// DefaultRetryBackoff is the wait before the first retry; each further
	// retry waits four times as long, plus up to 25% jitter.
	DefaultRetryBackoff = 10 * time.Millisecond
)

// Options configures a Transport. The zero value of every field selects
// the documented default.
type Options struct {
	// TLS, if set, secures connections with it. Without it connections are
	// plaintext and only to loopback addresses or Unix sockets
	// (credentials/local), unless Insecure is set.
	TLS *tls.Config
	// Insecure allows plaintext connections to any address. Ignored with TLS.
	Insecure bool

	// InvokeToken, if set, is sent with every Invoke as
	// "authorization: Bearer <token>": the app's invoke token, which its
	// hosts require (host/server Options.InvokeToken).
	InvokeToken string

	// MaxPayload is the largest input or output sent or received, in bytes;
	// set it to the host's Config.MaxPayload. Default DefaultMaxPayload.
	MaxPayload int
	// Overhead is added to MaxPayload for the gRPC message size limits.
	// Default DefaultOverhead.
	Overhead int

	// Keepalive pings idle connections. Default: a ping after 30 s without
	// activity while calls are running, 10 s to answer. The server's
	// enforcement policy (ServerOptions) permits it.
	Keepalive keepalive.ClientParameters

	// MaxRetries bounds the retries of calls that never left this process
	// (see the package comment). Default DefaultMaxRetries; negative: none.
	MaxRetries int
	// RetryBackoff is the wait before the first retry. Default
	// DefaultRetryBackoff.
	RetryBackoff time.Duration

	// DialOptions are appended to the Transport's own.
	DialOptions []grpc.DialOption
}

// Transport calls tasks on other hosts over gRPC: the invoke path of
// endpoints of kind api.KindGRPC. It implements host.Transport; register it
// with a host/transport.Mux (or plug it into host.Config.Transport
// directly). It keeps one *grpc.ClientConn per address, created on first
// use and shared by all calls; Close closes them. It is safe for concurrent
// use. It is the one HostService client of the module: hosts, the fuser's
// invoker and the local adapter's health checks all use it.
type Transport struct {
	opts     Options
	dialOpts []grpc.DialOption
	bearer   string // "Bearer <token>", or "" without a token

	mu     sync.RWMutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

var _ host.Transport = (*Transport)(nil)

// NewTransport returns a Transport. It dials nothing until the first call.
func NewTransport(opts Options) (*Transport, error) {
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	if opts.Overhead <= 0 {
		opts.Overhead = DefaultOverhead
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = DefaultRetryBackoff
	}
	if opts.Keepalive == (keepalive.ClientParameters{}) {
		opts.Keepalive = keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}
	}
	send, recv := MessageLimits(opts.MaxPayload, opts.Overhead)
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(ClientCreds(opts.TLS, opts.Insecure)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(recv), grpc.MaxCallSendMsgSize(send)),
		grpc.WithKeepaliveParams(opts.Keepalive),
		// Reconnect quickly after a refused connection, so a host that
		// comes (back) up is found within the retry budget; back off to a
		// try a second from a host that stays down.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		// Retries are this package's: only calls that never left.
		grpc.WithDisableServiceConfig(),
		grpc.WithDisableRetry(),
	}
	dialOpts = append(dialOpts, opts.DialOptions...)
	t := &Transport{opts: opts, dialOpts: dialOpts, conns: make(map[string]*grpc.ClientConn)}
	if opts.InvokeToken != "" {
		t.bearer = "Bearer " + opts.InvokeToken
	}
	return t, nil
}

// MessageLimits returns the gRPC message size limits of a side whose
// payload limit is maxPayload: it sends messages up to maxPayload +
// overhead (a payload at the limit and its envelope) and receives messages
// up to ReceiveHeadroom × maxPayload + overhead, so that a peer with a
// larger payload limit is answered by the payload check, not by gRPC.
func MessageLimits(maxPayload, overhead int) (send, recv int) {
	return maxPayload + overhead, ReceiveHeadroom*maxPayload + overhead
}

// ClientCreds returns the credentials of a connection to a host: TLS with
// cfg, plaintext to any address when plaintext is set, else plaintext to
// loopback and Unix sockets only (credentials/local).
func ClientCreds(cfg *tls.Config, plaintext bool) credentials.TransportCredentials {
	switch {
	case cfg != nil:
		return credentials.NewTLS(cfg)
	case plaintext:
		return insecure.NewCredentials()
	default:
		return local.NewCredentials()
	}
}

// errClosed is the cause of calls after Close.
var errClosed = errors.New("transport closed")

// conn returns the connection to addr, creating it on first use.
func (t *Transport) conn(addr string) (*grpc.ClientConn, error) {
	t.mu.RLock()
	cc, ok := t.conns[addr]
	closed := t.closed
	t.mu.RUnlock()
	if ok {
		return cc, nil
	}
	if closed {
		return nil, errClosed
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errClosed
	}
	if cc, ok := t.conns[addr]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr, t.dialOpts...)
	if err != nil {
		return nil, err
	}
	t.conns[addr] = cc
	return cc, nil
}

// Close closes every connection. Calls running fail with CodeUnavailable,
// later calls too.
func (t *Transport) Close() error {
	t.mu.Lock()
	conns := t.conns
	t.conns, t.closed = nil, true
	t.mu.Unlock()
	var errs []error
	for _, cc := range conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Invoke sends c to the host at to.Endpoint (of kind api.KindGRPC) and
// returns the task's output (for an async call: nothing, once the remote
// host accepted it). Errors are *host.Error values naming the task and the
// host's address, with the code the remote host sent.
func (t *Transport) Invoke(ctx context.Context, to host.Target, c host.Call) ([]byte, error) {
	addr, group := to.Endpoint.Address, to.Group
	if to.Endpoint.Kind != api.KindGRPC || addr == "" {
		return nil, &host.Error{Task: c.Task, Code: host.CodeUnavailable, Msg: fmt.Sprintf("group %q: not a grpc endpoint: %v", group, to.Endpoint)}
	}
	if len(c.Input) > t.opts.MaxPayload {
		// Refused here, where the limit is known, rather than by gRPC's
		// message limit with a message that names neither task nor limit.
		return nil, &host.Error{Task: c.Task, Code: host.CodeTooLarge, Msg: fmt.Sprintf("input of %d bytes exceeds the payload limit of %d bytes; not sent to group %q", len(c.Input), t.opts.MaxPayload, group)}
	}
	cc, err := t.conn(addr)
	if err != nil {
		return nil, &host.Error{Task: c.Task, Host: addr, Code: host.CodeUnavailable, Msg: fmt.Sprintf("host %s for group %q unavailable: %v", addr, group, err)}
	}
	req := &fusionizev1.InvokeRequest{
		Task:         c.Task,
		Input:        c.Input,
		Async:        c.Async,
		Caller:       c.Caller,
		TraceId:      c.TraceID,
		ParentSpanId: c.ParentID,
		Depth:        int32(c.Depth),
	}
	kv := make([]string, 0, 12)
	kv = append(kv, MDDepth, strconv.Itoa(c.Depth))
	if t.bearer != "" {
		kv = append(kv, "authorization", t.bearer)
	}
	if tp := c.Traceparent(); tp != "" {
		kv = append(kv, MDTraceparent, tp)
		if c.TraceState != "" {
			kv = append(kv, MDTracestate, c.TraceState)
		}
	}
	if c.ParentID != 0 {
		kv = append(kv, MDParentSpan, strconv.FormatUint(c.ParentID, 10))
	}
	if c.Caller != "" {
		kv = append(kv, MDCaller, c.Caller)
	}
	// The deadline travels as grpc-timeout; the host gives every call one.
	ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	client := fusionizev1.NewHostServiceClient(cc)
	for attempt := 0; ; attempt++ {
		var p peer.Peer
		var trailer metadata.MD
		resp, err := client.Invoke(ctx, req, grpc.Peer(&p), grpc.Trailer(&trailer))
		if err == nil {
			if id, ok := ctx.Value(responseSpanKey{}).(*uint64); ok {
				*id = resp.GetSpanId()
			}
			return resp.GetOutput(), nil
		}
		// A call that got no stream never reached the remote host: gRPC
		// sets the peer only once it opened a stream on a connection.
		unsent := p.Addr == nil && status.Code(err) == codes.Unavailable
		if !unsent || attempt >= t.opts.MaxRetries || !t.await(ctx, cc, attempt) {
			return nil, fromStatus(ctx, err, &c, group, addr, trailer)
		}
	}
}

// Health asks the host at addr for its serving status (HostService.Health).
func (t *Transport) Health(ctx context.Context, addr string) (fusionizev1.ServingStatus, error) {
	cc, err := t.conn(addr)
	if err != nil {
		return fusionizev1.ServingStatus_SERVING_STATUS_UNSPECIFIED, fmt.Errorf("grpc transport: health of %s: %w", addr, err)
	}
	res, err := fusionizev1.NewHostServiceClient(cc).Health(ctx, &fusionizev1.HealthRequest{})
	if err != nil {
		return fusionizev1.ServingStatus_SERVING_STATUS_UNSPECIFIED, fmt.Errorf("grpc transport: health of %s: %w", addr, err)
	}
	return res.GetStatus(), nil
}

// await waits out the backoff before retry attempt+1, and returns early
// once the connection is ready. It returns false, having waited nothing,
// when the wait would pass the caller's deadline.
func (t *Transport) await(ctx context.Context, cc *grpc.ClientConn, attempt int) bool {
	d := t.opts.RetryBackoff << (2 * attempt)
	d += time.Duration(rand.Int64N(int64(d)/4 + 1))
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	// Try to connect now rather than after gRPC's own reconnect backoff.
	cc.ResetConnectBackoff()
	for {
		s := cc.GetState()
		switch s {
		case connectivity.Ready:
			return true
		case connectivity.Idle:
			cc.Connect()
		case connectivity.Shutdown:
			return false
		}
		if !cc.WaitForStateChange(wctx, s) {
			return ctx.Err() == nil
		}
	}
}

type responseSpanKey struct{}

// WithResponseSpan returns a context that makes Invoke store the span id
// the callee's host answered with (InvokeResponse.span_id) in *id: for a
// client that prints or links the span of its request.
func WithResponseSpan(ctx context.Context, id *uint64) context.Context {
	return context.WithValue(ctx, responseSpanKey{}, id)
}
