package host

import (
	"errors"
	"fmt"
)

// Code classifies a failed invocation. The values equal the guest ABI's error
// codes (guest-sdk/ABI.md), so a host error crosses into a guest unchanged.
type Code int32

// Codes of failed invocations.
const (
	CodeOK          Code = 0
	CodeUnknownTask Code = -1
	CodeFailed      Code = -2
	CodeTooLarge    Code = -3
	CodeDepth       Code = -4
	CodeDeadline    Code = -5
	CodeUnavailable Code = -6
	CodeBadArgument Code = -7
	CodeInternal    Code = -8
	CodeNotFound    Code = -9
	CodeTooMany     Code = -10
)

// Sentinel errors. Every *Error unwraps to the one of its Code, so callers
// branch with errors.Is(err, host.ErrUnknownTask) and the like.
var (
	ErrUnknownTask = errors.New("unknown task")
	ErrFailed      = errors.New("task failed")
	ErrTooLarge    = errors.New("payload too large")
	ErrDepth       = errors.New("call depth exceeded")
	ErrDeadline    = errors.New("deadline exceeded")
	ErrUnavailable = errors.New("unavailable")
	ErrBadArgument = errors.New("bad argument")
	ErrInternal    = errors.New("internal error")
	ErrNotFound    = errors.New("not found")
	ErrTooMany     = errors.New("too many outstanding calls")

	// Load-time errors; they are returned by Load and never cross into guests.
	ErrBadModule   = errors.New("bad module")
	ErrABIVersion  = errors.New("ABI version mismatch")
	ErrDigest      = errors.New("module digest mismatch")
	ErrClosed      = errors.New("host closed")
	ErrDuplicate   = errors.New("task already loaded")
	ErrInvalidTask = errors.New("invalid task name")
	ErrMissingTask = errors.New("fused module lacks a task")
)

var codeErr = map[Code]error{
	CodeUnknownTask: ErrUnknownTask,
	CodeFailed:      ErrFailed,
	CodeTooLarge:    ErrTooLarge,
	CodeDepth:       ErrDepth,
	CodeDeadline:    ErrDeadline,
	CodeUnavailable: ErrUnavailable,
	CodeBadArgument: ErrBadArgument,
	CodeInternal:    ErrInternal,
	CodeNotFound:    ErrNotFound,
	CodeTooMany:     ErrTooMany,
}

// Error is a failed invocation of a task. It names the task and the host
// where it failed.
type Error struct {
	Task string // the task that failed or could not be reached
	Host string // the host that reports the failure
	Code Code
	Msg  string // what happened, for people
}

func (e *Error) Error() string {
	where := ""
	if e.Host != "" {
		where = " on host " + e.Host
	}
	return fmt.Sprintf("task %q%s: %s", e.Task, where, e.Msg)
}

// Unwrap returns the sentinel error of e.Code.
func (e *Error) Unwrap() error {
	if s, ok := codeErr[e.Code]; ok {
		return s
	}
	return ErrInternal
}

// CodeOf returns the Code of err: the code of an *Error in its chain, or the
// code of a sentinel it wraps, or CodeInternal.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	for c, s := range codeErr {
		if errors.Is(err, s) {
			return c
		}
	}
	if errors.Is(err, ErrClosed) {
		return CodeUnavailable
	}
	return CodeInternal
}

func newError(task, host string, code Code, format string, args ...any) *Error {
	return &Error{Task: task, Host: host, Code: code, Msg: fmt.Sprintf(format, args...)}
}
