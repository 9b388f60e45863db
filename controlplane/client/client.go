package client

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Client talks to a control plane. Its methods speak Go types; API gives
// the generated client for anything else. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	api  fusionizev1.ControlPlaneServiceClient
}

// ClientOption configures Dial.
type ClientOption func(*clientConfig)

type clientConfig struct {
	tls      *tls.Config
	insecure bool
	grpcOpts []grpc.DialOption
}

// WithTLS dials with TLS using cfg (nil: the system roots).
func WithTLS(cfg *tls.Config) ClientOption {
	return func(c *clientConfig) {
		if cfg == nil {
			cfg = &tls.Config{}
		}
		c.tls = cfg
	}
}

// WithInsecure allows a plaintext connection to a non-loopback address. The
// token then crosses the network in the clear: only for trusted networks.
func WithInsecure() ClientOption { return func(c *clientConfig) { c.insecure = true } }

// WithDialOptions adds gRPC dial options.
func WithDialOptions(opts ...grpc.DialOption) ClientOption {
	return func(c *clientConfig) { c.grpcOpts = append(c.grpcOpts, opts...) }
}

// Dial returns a Client for the control plane at addr ("host:port") that
// sends token with every call. Without WithTLS the connection is plaintext,
// which Dial allows only to loopback addresses (or with WithInsecure). Dial
// does not wait for the connection: the first call makes it, so a control
// plane that starts later is fine. ctx only aborts Dial itself.
func Dial(ctx context.Context, addr, token string, opts ...ClientOption) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var cfg clientConfig
	for _, o := range opts {
		o(&cfg)
	}
	dopts := []grpc.DialOption{grpc.WithPerRPCCredentials(BearerToken(token))}
	switch {
	case cfg.tls != nil:
		dopts = append(dopts, grpc.WithTransportCredentials(credentials.NewTLS(cfg.tls)))
	case cfg.insecure || isLoopback(addr):
		dopts = append(dopts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	default:
		return nil, fmt.Errorf("controlplane: dial %s: not a loopback address: use WithTLS, or WithInsecure to send the token in the clear", addr)
	}
	conn, err := grpc.NewClient(addr, append(dopts, cfg.grpcOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("controlplane: dial %s: %w", addr, err)
	}
	return &Client{conn: conn, api: fusionizev1.NewControlPlaneServiceClient(conn)}, nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// API returns the generated gRPC client on the same connection.
func (c *Client) API() fusionizev1.ControlPlaneServiceClient { return c.api }

// UploadModuleFile uploads the module file at path as task's module. It
// hashes the file first, so the control plane verifies the bytes it
// receives, then streams it in ChunkSize chunks.
func (c *Client) UploadModuleFile(ctx context.Context, task, path string) (api.ModuleInfo, error) {
	return c.uploadFile(ctx, task, nil, path)
}

// UploadFusedModuleFile uploads the fused module at path that holds tasks
// (guest ABI version 2), named api.FusedModuleName(tasks). The control
// plane refuses it unless it holds exactly tasks.
func (c *Client) UploadFusedModuleFile(ctx context.Context, tasks []string, path string) (api.ModuleInfo, error) {
	if len(tasks) == 0 {
		return api.ModuleInfo{}, fmt.Errorf("controlplane: upload fused module %s: no tasks", path)
	}
	return c.uploadFile(ctx, api.FusedModuleName(tasks), tasks, path)
}

func (c *Client) uploadFile(ctx context.Context, task string, fused []string, path string) (api.ModuleInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return api.ModuleInfo{}, fmt.Errorf("controlplane: upload %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return api.ModuleInfo{}, fmt.Errorf("controlplane: upload %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return api.ModuleInfo{}, fmt.Errorf("controlplane: upload %s: %w", path, err)
	}
	info, err := c.upload(ctx, task, fused, f, "sha256:"+hex.EncodeToString(h.Sum(nil)), n)
	if err != nil {
		return api.ModuleInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

// UploadModule streams the module read from r, which must hash to digest
// ("sha256:<hex>") and, when size > 0, hold size bytes.
func (c *Client) UploadModule(ctx context.Context, task string, r io.Reader, digest string, size int64) (api.ModuleInfo, error) {
	return c.upload(ctx, task, nil, r, digest, size)
}

func (c *Client) upload(ctx context.Context, task string, fused []string, r io.Reader, digest string, size int64) (api.ModuleInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // aborts the stream on early return
	stream, err := c.api.UploadModule(ctx)
	if err != nil {
		return api.ModuleInfo{}, fmt.Errorf("controlplane: upload module for task %q: %w", task, err)
	}
	err = stream.Send(&fusionizev1.UploadModuleRequest{Payload: &fusionizev1.UploadModuleRequest_Header{
		Header: &fusionizev1.ModuleHeader{Task: task, Digest: digest, Size: size, Tasks: fused},
	}})
	buf := make([]byte, ChunkSize)
	for err == nil {
		var n int
		n, err = io.ReadFull(r, buf)
		if n > 0 {
			if serr := stream.Send(&fusionizev1.UploadModuleRequest{Payload: &fusionizev1.UploadModuleRequest_Chunk{Chunk: buf[:n]}}); serr != nil {
				err = serr
				break
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil
			break
		}
		if err != nil {
			return api.ModuleInfo{}, fmt.Errorf("controlplane: upload module for task %q: read: %w", task, err)
		}
	}
	// A Send error (io.EOF) means the server ended the stream: its status
	// comes with CloseAndRecv.
	resp, rerr := stream.CloseAndRecv()
	if rerr != nil {
		return api.ModuleInfo{}, fmt.Errorf("controlplane: upload module for task %q: %w", task, rerr)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return api.ModuleInfo{}, fmt.Errorf("controlplane: upload module for task %q: %w", task, err)
	}
	return ModuleInfoFromProto(resp.GetModule()), nil
}

// maxPrealloc caps how much FetchModule allocates up front on the server's
// word.
const maxPrealloc = 128 << 20

// FetchModule downloads the module with the given digest and verifies its
// size and sha256 locally; a mismatch is ErrModuleMismatch naming the digest.
func (c *Client) FetchModule(ctx context.Context, digest string) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.api.GetModule(ctx, &fusionizev1.GetModuleRequest{Digest: digest})
	if err != nil {
		return nil, fmt.Errorf("controlplane: fetch module %s: %w", digest, err)
	}
	var (
		buf  []byte
		info *fusionizev1.ModuleInfo
		h    = sha256.New()
	)
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("controlplane: fetch module %s: %w", digest, err)
		}
		if info == nil {
			if info = m.GetInfo(); info == nil {
				return nil, fmt.Errorf("controlplane: fetch module %s: first message has no info", digest)
			}
			buf = make([]byte, 0, min(max(info.GetSize(), 0), maxPrealloc))
		}
		h.Write(m.GetChunk())
		buf = append(buf, m.GetChunk()...)
	}
	if info == nil {
		return nil, fmt.Errorf("controlplane: fetch module %s: empty stream", digest)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return nil, fmt.Errorf("%w: module %s: received %d bytes hashing to %s", ErrModuleMismatch, digest, len(buf), got)
	}
	if int64(len(buf)) != info.GetSize() {
		return nil, fmt.Errorf("%w: module %s: received %d bytes, info says %d", ErrModuleMismatch, digest, len(buf), info.GetSize())
	}
	return buf, nil
}

// Modules lists the latest module of every task.
func (c *Client) Modules(ctx context.Context) ([]api.ModuleInfo, error) {
	resp, err := c.api.ListModules(ctx, &fusionizev1.ListModulesRequest{})
	if err != nil {
		return nil, fmt.Errorf("controlplane: list modules: %w", err)
	}
	out := make([]api.ModuleInfo, len(resp.GetModules()))
	for i, m := range resp.GetModules() {
		out[i] = ModuleInfoFromProto(m)
	}
	return out, nil
}

// ApplySetup makes su current and returns its new version. su.Version is
// ignored.
func (c *Client) ApplySetup(ctx context.Context, su *setup.Setup) (int64, error) {
	resp, err := c.api.ApplySetup(ctx, &fusionizev1.ApplySetupRequest{Setup: SetupToProto(su)})
	if err != nil {
		return 0, fmt.Errorf("controlplane: apply setup: %w", err)
	}
	return resp.GetVersion(), nil
}

// Setup returns a setup version; 0 means the current one.
func (c *Client) Setup(ctx context.Context, version int64) (*setup.Setup, error) {
	su, _, err := c.SetupEndpoints(ctx, version)
	return su, err
}

// SetupEndpoints returns a setup version (0: the current one) with the
// endpoints the deployer recorded for its groups: empty until the version
// is deployed, complete once it is active. They are the routes to the
// version's groups.
func (c *Client) SetupEndpoints(ctx context.Context, version int64) (*setup.Setup, api.Endpoints, error) {
	resp, err := c.api.GetSetup(ctx, &fusionizev1.GetSetupRequest{Version: version})
	if err != nil {
		return nil, nil, fmt.Errorf("controlplane: get setup %d: %w", version, err)
	}
	return SetupFromProto(resp.GetSetup()), EndpointsFromProto(resp.GetEndpoints()), nil
}

// WatchSetup streams the current setup if its version is above after, then
// every setup applied later. The setups channel is closed when the watch
// ends; the error channel then yields why (nothing, so a nil receive, when
// ctx ended) and is closed. Reconnecting is the caller's choice.
func (c *Client) WatchSetup(ctx context.Context, after int64) (<-chan *setup.Setup, <-chan error) {
	out := make(chan *setup.Setup)
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		defer close(out)
		err := c.watchSetup(ctx, after, out)
		if err != nil && ctx.Err() == nil {
			errc <- fmt.Errorf("controlplane: watch setup: %w", err)
		}
	}()
	return out, errc
}

func (c *Client) watchSetup(ctx context.Context, after int64, out chan<- *setup.Setup) error {
	stream, err := c.api.WatchSetup(ctx, &fusionizev1.WatchSetupRequest{AfterVersion: after})
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return err // io.EOF too: the server never ends a watch cleanly
		}
		select {
		case out <- SetupFromProto(m.GetSetup()):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ReportSpans sends a batch of spans recorded by host and returns how many
// were stored and how many refused as invalid.
func (c *Client) ReportSpans(ctx context.Context, host string, spans []span.Span) (accepted, rejected int, err error) {
	req := &fusionizev1.ReportSpansRequest{Host: host, Spans: make([]*fusionizev1.Span, len(spans))}
	for i := range spans {
		req.Spans[i] = SpanToProto(&spans[i])
	}
	resp, err := c.api.ReportSpans(ctx, req)
	if err != nil {
		return 0, 0, fmt.Errorf("controlplane: report %d spans: %w", len(spans), err)
	}
	return int(resp.GetAccepted()), int(resp.GetRejected()), nil
}

// Spans returns up to limit of the newest spans of a setup version (0: of
// any), newest first; limit 0 means the server's default page size. A
// limit past the server's page size is read in pages: nothing is cut off.
func (c *Client) Spans(ctx context.Context, version int64, limit int) ([]span.Span, error) {
	var out []span.Span
	token := ""
	for {
		req := &fusionizev1.QuerySpansRequest{SetupVersion: version, Limit: int32(limit - len(out)), PageToken: token}
		if limit <= 0 {
			req.Limit = 0
		}
		resp, err := c.api.QuerySpans(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("controlplane: query spans: %w", err)
		}
		for _, p := range resp.GetSpans() {
			out = append(out, SpanFromProto(p))
		}
		token = resp.GetNextPageToken()
		if token == "" || limit <= 0 || len(out) >= limit {
			return out, nil
		}
	}
}

// AllSpans returns every span of a setup version (0: of all), newest
// first, reading page after page.
func (c *Client) AllSpans(ctx context.Context, version int64) ([]span.Span, error) {
	return c.Spans(ctx, version, math.MaxInt32)
}

// RegisterHost registers h (or refreshes it: call it as a heartbeat) and
// returns the control plane's current setup version.
func (c *Client) RegisterHost(ctx context.Context, h api.HostInfo) (int64, error) {
	resp, err := c.api.RegisterHost(ctx, &fusionizev1.RegisterHostRequest{Host: HostToProto(h)})
	if err != nil {
		return 0, fmt.Errorf("controlplane: register host %q: %w", h.Name, err)
	}
	return resp.GetSetupVersion(), nil
}

// Hosts lists the live hosts.
func (c *Client) Hosts(ctx context.Context) ([]api.HostInfo, error) {
	resp, err := c.api.ListHosts(ctx, &fusionizev1.ListHostsRequest{})
	if err != nil {
		return nil, fmt.Errorf("controlplane: list hosts: %w", err)
	}
	out := make([]api.HostInfo, len(resp.GetHosts()))
	for i, h := range resp.GetHosts() {
		out[i] = HostFromProto(h)
	}
	return out, nil
}

// Status summarizes the control plane.
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := c.api.Status(ctx, &fusionizev1.StatusRequest{})
	if err != nil {
		return Status{}, fmt.Errorf("controlplane: status: %w", err)
	}
	return StatusFromProto(resp), nil
}

// Iterations returns the optimizer's history, oldest first.
func (c *Client) Iterations(ctx context.Context) ([]api.Iteration, error) {
	resp, err := c.api.ListIterations(ctx, &fusionizev1.ListIterationsRequest{})
	if err != nil {
		return nil, fmt.Errorf("controlplane: list iterations: %w", err)
	}
	out := make([]api.Iteration, len(resp.GetIterations()))
	for i, p := range resp.GetIterations() {
		out[i] = IterationFromProto(p)
	}
	return out, nil
}

// RecordIteration appends one step to the optimizer's history.
func (c *Client) RecordIteration(ctx context.Context, it api.Iteration) error {
	if _, err := c.api.RecordIteration(ctx, &fusionizev1.RecordIterationRequest{Iteration: IterationToProto(&it)}); err != nil {
		return fmt.Errorf("controlplane: record iteration %d: %w", it.Index, err)
	}
	return nil
}

// WaitActive polls Status until setup version v (or a later one) is active,
// that is every group of it deployed and healthy, or ctx ends. When the
// deployer reports that v failed to deploy, it returns at once with
// ErrDeployFailed and the deployer's reason.
func (c *Client) WaitActive(ctx context.Context, v int64) error {
	for {
		st, err := c.Status(ctx)
		if err == nil && st.ActiveVersion >= v {
			return nil
		}
		if err == nil && st.FailedVersion == v {
			return fmt.Errorf("%w: setup version %d: %s", ErrDeployFailed, v, st.DeployError)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controlplane: setup version %d not active: %w", v, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
