package server

import (
	"context"
	"errors"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/store"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors of the control plane's own making, wrapped with context; test with
// errors.Is. Store and setup errors pass through wrapped as they are.
var (
	// ErrBadRequest: a request is malformed (missing header, empty task,
	// nil setup, a setup naming a task with no module, …).
	ErrBadRequest = errors.New("controlplane: bad request")
	// ErrShuttingDown: the control plane is stopping; streams end with it.
	ErrShuttingDown = errors.New("controlplane: shutting down")
)

// toStatus maps an error to a gRPC status. It is the only place where Go
// errors become codes: handlers return plain wrapped errors and call it at
// the edge.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status (e.g. from stream.Send)
	}
	code := codes.Internal
	switch {
	case errors.Is(err, store.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, store.ErrDigestMismatch), errors.Is(err, store.ErrBadDigest),
		errors.Is(err, ErrBadRequest), errors.Is(err, store.ErrBadKey),
		errors.Is(err, setup.ErrEmptyGroup), errors.Is(err, setup.ErrDuplicateTask),
		errors.Is(err, setup.ErrUnknownTask), errors.Is(err, setup.ErrMissingTask),
		errors.Is(err, setup.ErrBadGroup):
		code = codes.InvalidArgument
	case errors.Is(err, store.ErrTooLarge):
		code = codes.ResourceExhausted
	case errors.Is(err, store.ErrClosed), errors.Is(err, ErrShuttingDown):
		code = codes.Unavailable
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}
