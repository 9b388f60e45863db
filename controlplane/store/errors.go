package store

import "errors"

// Errors returned by Store methods, wrapped with context; test with errors.Is.
var (
	// ErrNotFound: no module, setup or task record with that key.
	ErrNotFound = errors.New("store: not found")
	// ErrDigestMismatch: uploaded bytes do not hash to the announced digest.
	ErrDigestMismatch = errors.New("store: digest mismatch")
	// ErrBadDigest: a digest is not of the form "sha256:<64 lowercase hex>".
	ErrBadDigest = errors.New("store: bad digest")
	// ErrTooLarge: an upload exceeds its size limit.
	ErrTooLarge = errors.New("store: too large")
	// ErrCorrupt: data on disk does not match what was recorded (a module
	// whose bytes no longer hash to its name, an undecodable record).
	ErrCorrupt = errors.New("store: corrupt")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrBadCursor: a span page cursor is not one SpanPage returned.
	ErrBadCursor = errors.New("store: bad span cursor")
	// ErrLocked: another process (or another Store) holds the data directory.
	ErrLocked = errors.New("store: data directory locked")
)
