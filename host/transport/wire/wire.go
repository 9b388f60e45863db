// Package wire is the invocation envelope Fusionize's cloud transports and
// runtimes share: the JSON document that carries one call of a task to a
// fusion group deployed as a cloud function (a Lambda Invoke payload, the
// body of an HTTPS POST to a Cloud Function), and the table that names each
// host error code in a failed call's answer, so that a failure keeps its
// host.Code across the hop without anyone parsing messages.
//
//	body, _ := json.Marshal(wire.Request{Version: wire.Version, Task: "CA", Input: in, Depth: 1})
//	req, err := wire.DecodeRequest(body) // on the other side
//	...
//	e := wire.ErrorOf(err, req.Task, hostName) // {Reason: "UNKNOWN_TASK", ...}
//	code, ok := wire.CodeOf(e.Reason)          // host.CodeUnknownTask, true
//
// Each transport keeps the shape its platform gives errors: Lambda's
// function error (errorType "Fusionize.<reason>") and the HTTPS transport's
// error body (Error) both carry a Reason from this table.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fusionize/fusionize/host"
)

// Version is the version of the invocation envelope. A runtime refuses an
// envelope of another version with CodeBadArgument.
const Version = 1

// Request is one invocation of a fusion group's function: the task to run
// and the context of the call. It is JSON because Lambda payloads are JSON
// documents and an HTTP function takes any body; Input travels
// base64-encoded inside it.
type Request struct {
	Version  int    `json:"fusionize"`
	Task     string `json:"task"`
	Input    []byte `json:"input,omitempty"`
	Caller   string `json:"caller,omitempty"`
	TraceID  string `json:"traceId,omitempty"`
	ParentID uint64 `json:"parentId,omitempty"` // the calling task's span
	Depth    int    `json:"depth,omitempty"`
	// Traceparent and Tracestate are the W3C trace context of the call
	// (host.Call.Traceparent): Lambda payloads carry no headers, so the
	// envelope does. A malformed traceparent is ignored.
	Traceparent string `json:"traceparent,omitempty"`
	Tracestate  string `json:"tracestate,omitempty"`
	// Async marks a call its caller does not wait for (a Lambda Event
	// invocation, a Cloud Tasks delivery): the callee runs it to the end
	// before answering, and a failure is an error answer so that the
	// platform's queue retries it and, past its retries, dead-letters it.
	Async bool `json:"async,omitempty"`
	// DeadlineMs is the caller's deadline (Unix milliseconds), 0 for none.
	// The callee stops at the earlier of it and its function's timeout.
	DeadlineMs int64 `json:"deadlineMs,omitempty"`
	// Ping asks the runtime to answer with its host's name without running
	// a task: a deployer's check that a new function starts and serves.
	Ping bool `json:"ping,omitempty"`
}

// NewRequest returns the envelope of c, with the deadline of a sync call.
func NewRequest(c host.Call, deadline time.Time) Request {
	r := Request{
		Version: Version, Task: c.Task, Input: c.Input, Caller: c.Caller,
		TraceID: c.TraceID, ParentID: c.ParentID, Depth: c.Depth, Async: c.Async,
		Traceparent: c.Traceparent(),
	}
	if r.Traceparent != "" {
		r.Tracestate = c.TraceState
	}
	if !deadline.IsZero() && !c.Async {
		r.DeadlineMs = deadline.UnixMilli()
	}
	return r
}

// Call returns the host.Call r carries. A call with a caller arrived from
// another host (Remote).
func (r Request) Call() host.Call {
	c := host.Call{
		Task: r.Task, Input: r.Input, Async: r.Async, Caller: r.Caller,
		TraceID: r.TraceID, ParentID: r.ParentID, Depth: r.Depth,
		Remote: r.Caller != "",
	}
	c.SetTraceparent(r.Traceparent, r.Tracestate)
	return c
}

// Deadline returns the caller's deadline, if it sent one.
func (r Request) Deadline() (time.Time, bool) {
	if r.DeadlineMs <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(r.DeadlineMs), true
}

// Response is the answer of a successful invocation.
type Response struct {
	Output []byte `json:"output"`
}

// Error is a failed invocation as a Fusionize runtime reports it: the
// reason of its host.Code, the task and host where it arose, and what
// happened.
type Error struct {
	Reason  string `json:"reason"`
	Task    string `json:"task,omitempty"`
	Host    string `json:"host,omitempty"`
	Message string `json:"message"`
}

// HostError rebuilds the *host.Error e reports. An unknown reason is
// CodeInternal.
func (e Error) HostError() *host.Error {
	code, ok := CodeOf(e.Reason)
	if !ok {
		code = host.CodeInternal
	}
	return &host.Error{Task: e.Task, Host: e.Host, Code: code, Msg: e.Message}
}

// reasons names each host.Code.
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

// Reason names code ("UNKNOWN_TASK"); a code without a name is "INTERNAL".
func Reason(code host.Code) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	return reasons[host.CodeInternal]
}

// CodeOf returns the host.Code reason names.
func CodeOf(reason string) (host.Code, bool) {
	for c, r := range reasons {
		if r == reason {
			return c, true
		}
	}
	return 0, false
}

// ErrorOf converts an error of host.Serve into the Error a runtime reports
// for it. An error that is no *host.Error is attributed to task on hostName.
func ErrorOf(err error, task, hostName string) Error {
	var he *host.Error
	if !errors.As(err, &he) {
		he = &host.Error{Task: task, Host: hostName, Code: host.CodeOf(err), Msg: err.Error()}
	}
	return Error{Reason: Reason(he.Code), Task: he.Task, Host: he.Host, Message: he.Msg}
}

// DecodeRequest parses an invocation envelope.
func DecodeRequest(payload []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(payload, &r); err != nil {
		return Request{}, fmt.Errorf("not a Fusionize invocation: %w", err)
	}
	if r.Version != Version {
		return Request{}, fmt.Errorf("invocation envelope version %d, want %d", r.Version, Version)
	}
	if r.Task == "" && !r.Ping {
		return Request{}, fmt.Errorf("invocation names no task")
	}
	if r.Depth < 0 {
		return Request{}, fmt.Errorf("invocation depth %d is negative", r.Depth)
	}
	return r, nil
}
