package gcf

import "errors"

// Errors the emulator's Go API returns; the gRPC edge (service.go) maps them
// to the status codes Cloud Functions uses.
var (
	// ErrNotFound: no function, operation or upload of that name.
	ErrNotFound = errors.New("gcf: not found")
	// ErrAlreadyExists: CreateFunction for a name already taken.
	ErrAlreadyExists = errors.New("gcf: already exists")
	// ErrInvalidArgument: a malformed name, runtime, quantity or limit.
	ErrInvalidArgument = errors.New("gcf: invalid argument")
	// ErrFailedPrecondition: the function is busy with another operation.
	ErrFailedPrecondition = errors.New("gcf: failed precondition")
	// ErrBuild: the uploaded source did not build.
	ErrBuild = errors.New("gcf: build failed")
	// ErrClosed: the emulator was closed.
	ErrClosed = errors.New("gcf: emulator closed")
)
