package client

import (
	"context"
	"fmt"
	"time"

	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
	"google.golang.org/grpc"
)

// MaxValueSize is the largest value the control plane's key-value store
// takes (the guest ABI's default payload limit).
const MaxValueSize = 4 << 20

// recvValue lets a GetValue answer carry a value of MaxValueSize (gRPC
// clients refuse messages over 4 MiB by default).
var recvValue = grpc.MaxCallRecvMsgSize(MaxValueSize + 64<<10)

// ValueWait is how long a GetValue or PutValue waits for a control plane it
// cannot reach (a restart takes seconds, and gRPC's reconnect backoff adds
// to it) before it fails. A write is never kept to be sent later.
const ValueWait = 5 * time.Second

// GetValue reads key from app's durable key-value store; ok is false when
// the key is absent.
func (c *Client) GetValue(ctx context.Context, app, key string) (val []byte, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, ValueWait)
	defer cancel()
	resp, err := c.api.GetValue(ctx, &fusionizev1.GetValueRequest{App: app, Key: key}, recvValue, grpc.WaitForReady(true))
	if err != nil {
		return nil, false, fmt.Errorf("controlplane: get %q of app %q: %w", key, app, err)
	}
	if !resp.GetFound() {
		return nil, false, nil
	}
	val = resp.GetValue()
	if val == nil {
		val = []byte{}
	}
	return val, true, nil
}

// PutValue writes key in app's durable key-value store. It returns once the
// control plane has committed the write; it is never buffered.
func (c *Client) PutValue(ctx context.Context, app, key string, val []byte) error {
	ctx, cancel := context.WithTimeout(ctx, ValueWait)
	defer cancel()
	if _, err := c.api.PutValue(ctx, &fusionizev1.PutValueRequest{App: app, Key: key, Value: val}, grpc.WaitForReady(true)); err != nil {
		return fmt.Errorf("controlplane: put %q of app %q: %w", key, app, err)
	}
	return nil
}

// DeregisterHost removes a stopping host from the registry if it is still
// registered at address; removed says whether it was.
func (c *Client) DeregisterHost(ctx context.Context, name, address string) (removed bool, err error) {
	resp, err := c.api.DeregisterHost(ctx, &fusionizev1.DeregisterHostRequest{Name: name, Address: address})
	if err != nil {
		return false, fmt.Errorf("controlplane: deregister host %q: %w", name, err)
	}
	return resp.GetRemoved(), nil
}
