package grpctransport

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/wire"
)

// Metadata keys. Requests carry the W3C trace context (traceparent,
// tracestate), the calling task's span, the caller and the call depth;
// responses of failed calls carry the exact host.Code in a trailer.
const (
	MDTraceparent = "traceparent"
	MDTracestate  = "tracestate"
	MDParentSpan  = "fusionize-parent-span"
	MDCaller      = "fusionize-caller"
	MDDepth       = "fusionize-depth"
	MDCode        = "fusionize-code"
)

// errorDomain is the ErrorInfo domain of the status details the server
// attaches to failed invocations.
const errorDomain = "fusionize.v1"

// GRPCCode returns the gRPC status code a server reports for a host.Code.
// This mapping is applied only at the service edge (host/server); see
// the package comment for the table.
func GRPCCode(c host.Code) codes.Code {
	switch c {
	case host.CodeOK:
		return codes.OK
	case host.CodeUnknownTask, host.CodeNotFound:
		return codes.NotFound
	case host.CodeTooLarge, host.CodeTooMany:
		return codes.ResourceExhausted
	case host.CodeDeadline:
		return codes.DeadlineExceeded
	case host.CodeUnavailable:
		return codes.Unavailable
	case host.CodeDepth:
		return codes.FailedPrecondition
	case host.CodeFailed:
		return codes.Aborted
	case host.CodeBadArgument:
		return codes.InvalidArgument
	default:
		return codes.Internal
	}
}

// HostCode returns the host.Code a client assumes for a gRPC status code
// when the status does not carry the exact code (a server that is not a
// Fusionize host, or an error raised by gRPC itself).
func HostCode(c codes.Code) host.Code {
	switch c {
	case codes.OK:
		return host.CodeOK
	case codes.NotFound:
		return host.CodeUnknownTask
	case codes.ResourceExhausted:
		return host.CodeTooLarge
	case codes.DeadlineExceeded, codes.Canceled:
		return host.CodeDeadline
	case codes.Unavailable:
		return host.CodeUnavailable
	case codes.FailedPrecondition, codes.Aborted, codes.Unknown:
		return host.CodeFailed
	case codes.InvalidArgument, codes.OutOfRange:
		return host.CodeBadArgument
	default:
		return host.CodeInternal
	}
}

// ToStatus converts an error of host.Serve into the status the server
// returns: the gRPC code from GRPCCode, the full error text as message, and
// an ErrorInfo detail with the exact host.Code, the task, the reporting host
// and the bare message, so that a Transport rebuilds the same *host.Error.
func ToStatus(err error, task, hostName string) (*status.Status, host.Code) {
	var he *host.Error
	if !errors.As(err, &he) {
		he = &host.Error{Task: task, Host: hostName, Code: host.CodeOf(err), Msg: err.Error()}
	}
	st := status.New(GRPCCode(he.Code), he.Error())
	if ds, derr := st.WithDetails(&errdetails.ErrorInfo{
		Reason: wire.Reason(he.Code), // the names every transport uses
		Domain: errorDomain,
		Metadata: map[string]string{
			"code":    strconv.Itoa(int(he.Code)),
			"task":    he.Task,
			"host":    he.Host,
			"message": he.Msg,
		},
	}); derr == nil {
		st = ds
	}
	return st, he.Code
}

// ExactCode returns the exact host.Code a Fusionize server attached to st
// (its ErrorInfo detail), if any.
func ExactCode(st *status.Status) (host.Code, bool) {
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain {
			continue
		}
		if n, err := strconv.Atoi(info.GetMetadata()["code"]); err == nil && n < 0 {
			return host.Code(n), true
		}
	}
	return 0, false
}

// fromStatus converts the error of a call to the host at addr into a
// *host.Error. trailer is the call's trailer metadata (may be nil).
func fromStatus(ctx context.Context, err error, c *host.Call, group, addr string, trailer metadata.MD) *host.Error {
	st := status.Convert(err)
	e := &host.Error{Task: c.Task, Host: addr, Code: HostCode(st.Code()), Msg: st.Message()}
	exact := false
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain {
			continue
		}
		md := info.GetMetadata()
		if n, err := strconv.Atoi(md["code"]); err == nil && n < 0 {
			e.Code, exact = host.Code(n), true
		}
		if t := md["task"]; t != "" {
			e.Task = t
		}
		if h := md["host"]; h != "" && h != addr {
			e.Host = h + " via " + addr
		}
		if m, ok := md["message"]; ok {
			e.Msg = m
		}
		break
	}
	if !exact {
		if v := trailer.Get(MDCode); len(v) > 0 {
			if n, err := strconv.Atoi(v[0]); err == nil && n < 0 {
				e.Code, exact = host.Code(n), true
			}
		}
	}
	if exact {
		return e
	}
	// gRPC raised the error itself (or the peer is not a Fusionize host):
	// say what happened in the caller's terms.
	switch st.Code() {
	case codes.Unavailable:
		e.Msg = fmt.Sprintf("host %s for group %q unavailable: %s", addr, group, st.Message())
	case codes.Canceled:
		if ctx.Err() == nil {
			// Not the caller's doing: the transport was closed under the call.
			e.Code = host.CodeUnavailable
			e.Msg = fmt.Sprintf("host %s for group %q unavailable: %s", addr, group, st.Message())
		}
	case codes.DeadlineExceeded:
		e.Msg = fmt.Sprintf("no answer from host %s in time: %s", addr, st.Message())
	case codes.ResourceExhausted:
		e.Msg = fmt.Sprintf("refused by gRPC (a message over the size limit: payload limit plus envelope): %s", st.Message())
	}
	return e
}
