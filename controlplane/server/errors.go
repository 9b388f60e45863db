package server

import (
	"context"
	"errors"
	"strings"

	"github.com/fusionize/fusionize/api"
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
	// ErrBadModule: an uploaded module would not load on a host (not Wasm,
	// a missing export, a wrong ABI version, an unknown import, an
	// _initialize that does not return, …); the message says which.
	ErrBadModule = errors.New("controlplane: bad module")
	// ErrShuttingDown: the control plane is stopping; streams end with it.
	ErrShuttingDown = errors.New("controlplane: shutting down")
)

// problems is several reasons to refuse one request, reported together on
// one line; errors.Is sees each.
type problems []error

func (p problems) Error() string {
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

func (p problems) Unwrap() []error { return p }

// joinProblems returns nil, the one error, or all of them as one.
func joinProblems(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return problems(errs)
}

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
		errors.Is(err, ErrBadRequest), errors.Is(err, ErrBadModule),
		errors.Is(err, setup.ErrEmptyGroup), errors.Is(err, setup.ErrDuplicateTask),
		errors.Is(err, setup.ErrUnknownTask), errors.Is(err, setup.ErrMissingTask),
		errors.Is(err, setup.ErrBadGroup), errors.Is(err, setup.ErrNoGroups),
		errors.Is(err, api.ErrBadIteration):
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
