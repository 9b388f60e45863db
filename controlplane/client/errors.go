package client

import "errors"

// ErrModuleMismatch: a fetched module does not hash to its digest or does
// not have its announced size.
var ErrModuleMismatch = errors.New("controlplane: module mismatch")

// ErrDeployFailed: WaitActive's version failed to deploy; the error says
// why (Status.DeployError).
var ErrDeployFailed = errors.New("controlplane: deploy failed")

// ChunkSize is the size of the module chunks the client uploads and the
// server sends: well under gRPC's 4 MiB message limit, large enough that
// per-message overhead does not matter.
const ChunkSize = 256 << 10
