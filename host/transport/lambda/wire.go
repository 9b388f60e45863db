package lambda

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/fusionize/fusionize/host"
)

// WireVersion is the version of the invocation envelope. A runtime refuses
// an envelope of another version with CodeBadArgument.
const WireVersion = 1

// Request is the payload of one Invoke of a fusion group's function: the
// task to run and the context of the call. It is JSON because Lambda
// payloads are JSON documents; Input travels base64-encoded inside it.
type Request struct {
	Version  int    `json:"fusionize"`
	Task     string `json:"task"`
	Input    []byte `json:"input,omitempty"`
	Caller   string `json:"caller,omitempty"`
	TraceID  string `json:"traceId,omitempty"`
	ParentID uint64 `json:"parentId,omitempty"`
	Depth    int    `json:"depth,omitempty"`
	// Async marks a call its caller does not wait for (an Event
	// invocation): the span says so, and a failure is a function error so
	// that Lambda retries it and, past its retries, dead-letters it.
	Async bool `json:"async,omitempty"`
	// DeadlineMs is the caller's deadline (Unix milliseconds), 0 for none.
	// The callee stops at the earlier of it and its function's timeout.
	DeadlineMs int64 `json:"deadlineMs,omitempty"`
	// Ping asks the runtime to answer without running a task: a deployer's
	// check that a new function starts and serves.
	Ping bool `json:"ping,omitempty"`
}

// Response is the payload of a successful invocation.
type Response struct {
	Output []byte `json:"output"`
}

// ErrorTypePrefix starts the errorType of every function error a Fusionize
// runtime reports; the rest is the reason of the host.Code
// ("Fusionize.UNKNOWN_TASK"). Errors without it come from the platform
// (Runtime.ExitError, Sandbox.Timedout, ...).
const ErrorTypePrefix = "Fusionize."

// FunctionError is the error payload of a failed invocation, in the shape
// Lambda gives every function error. For a Fusionize error, Type is
// ErrorTypePrefix and the code's reason, and Message the host error's full
// text, which names the task and host where it arose.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

// reasons names each host.Code in an errorType.
var reasons = map[host.Code]string{
	host.CodeUnknownTask: "UNKNOWN_TASK",
	host.CodeFailed:      "FAILED",
	host.CodeTooLarge:    "TOO_LARGE",
	host.CodeDepth:       "DEPTH",
	host.CodeDeadline:    "DEADLINE",
	host.CodeUnavailable: "UNAVAILABLE",
	host.CodeBadArgument: "BAD_ARGUMENT",
	host.CodeInternal:    "INTERNAL",
	host.CodeNotFound:    "NOT_FOUND",
	host.CodeTooMany:     "TOO_MANY",
}

// ErrorOf converts an error of host.Serve into the function error a runtime
// reports for it.
func ErrorOf(err error, task, hostName string) FunctionError {
	he := asHostError(err, task, hostName)
	reason := reasons[he.Code]
	if reason == "" {
		reason = reasons[host.CodeInternal]
	}
	return FunctionError{Type: ErrorTypePrefix + reason, Message: he.Error()}
}

func asHostError(err error, task, hostName string) *host.Error {
	var he *host.Error
	if errors.As(err, &he) {
		return he
	}
	return &host.Error{Task: task, Host: hostName, Code: host.CodeOf(err), Msg: err.Error()}
}

// codeOfType returns the host.Code a Fusionize errorType names.
func codeOfType(errorType string) (host.Code, bool) {
	reason, ok := strings.CutPrefix(errorType, ErrorTypePrefix)
	if !ok {
		return 0, false
	}
	for c, r := range reasons {
		if r == reason {
			return c, true
		}
	}
	return 0, false
}

// DecodeRequest parses an invocation payload.
func DecodeRequest(payload []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(payload, &r); err != nil {
		return Request{}, fmt.Errorf("not a Fusionize invocation: %w", err)
	}
	if r.Version != WireVersion {
		return Request{}, fmt.Errorf("invocation envelope version %d, want %d", r.Version, WireVersion)
	}
	if r.Task == "" && !r.Ping {
		return Request{}, fmt.Errorf("invocation names no task")
	}
	return r, nil
}
