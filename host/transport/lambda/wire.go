package lambda

import (
	"strings"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/wire"
)

// WireVersion is the version of the invocation envelope (wire.Version).
const WireVersion = wire.Version

// Request is the payload of one Invoke of a fusion group's function: the
// shared envelope of package wire.
type Request = wire.Request

// Response is the payload of a successful invocation.
type Response = wire.Response

// ErrorTypePrefix starts the errorType of every function error a Fusionize
// runtime reports; the rest is the reason of the host.Code
// ("Fusionize.UNKNOWN_TASK", see wire.Reason). Errors without it come from
// the platform (Runtime.ExitError, Sandbox.Timedout, ...).
const ErrorTypePrefix = "Fusionize."

// FunctionError is the error payload of a failed invocation, in the shape
// Lambda gives every function error. For a Fusionize error, Type is
// ErrorTypePrefix and the code's reason, and Message the host error's full
// text, which names the task and host where it arose.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

// ErrorOf converts an error of host.Serve into the function error a runtime
// reports for it.
func ErrorOf(err error, task, hostName string) FunctionError {
	e := wire.ErrorOf(err, task, hostName)
	return FunctionError{Type: ErrorTypePrefix + e.Reason, Message: e.HostError().Error()}
}

// codeOfType returns the host.Code a Fusionize errorType names.
func codeOfType(errorType string) (host.Code, bool) {
	reason, ok := strings.CutPrefix(errorType, ErrorTypePrefix)
	if !ok {
		return 0, false
	}
	return wire.CodeOf(reason)
}

// DecodeRequest parses an invocation payload.
func DecodeRequest(payload []byte) (Request, error) { return wire.DecodeRequest(payload) }
