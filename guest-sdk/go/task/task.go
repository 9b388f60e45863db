// Package task is the Go SDK for Fusionize tasks. A task is one Go main
// package built as a WebAssembly reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o build/A.wasm ./tasks/a
//
// (or `fusionize build <app>`). The package registers the exports of the
// Fusionize guest ABI (guest-sdk/ABI.md) and wraps its imports:
//
//	package main
//
//	import "github.com/fusionize/fusionize/guest-sdk/go/task"
//
//	func init() {
//		task.Handle(func(in []byte) ([]byte, error) {
//			out, err := task.Call("B", in) // sync: in memory or remote, the host decides
//			if err != nil {
//				return nil, err
//			}
//			_ = task.CallAsync("C", in) // fire and forget
//			return out, nil
//		})
//	}
//
//	func main() {}
//
// Register the handler in init: a reactor's main is never run.
//
// The same source also builds into a fused module with other tasks of its
// group (guest-sdk/build.BuildFused: one module, one Go runtime, guest ABI
// version 2). There, CallInto and Call to a task of the same module are a
// function call that never leaves the instance, and a panic in the callee
// fails that call only. The SDK counts every such call in a span table the
// host reads when the invocation ends, and brackets only a sample (the
// first call of each caller→callee edge, then 1 in the host's
// Config.SpanSampleEvery) with the two imports through which the host
// times it and records its span; the others become one aggregate span per
// edge (ABI.md, "Sampling calls inside the module"). The depth and payload
// limits hold for every call: a call the host would refuse goes to the
// host, which refuses it in its own words. CallAsync and Start always go through the host. A handler must
// not rely on globals shared with other tasks: in a fused module, packages
// the tasks import are shared by all of them.
//
// The per-call path reuses its buffers: CallInto, Pending.WaitInto and the
// input buffer allocate nothing once warm. Call and Wait return a fresh copy
// of the result, one allocation of its size. Everything here is for one
// instance, which runs one invocation at a time; it is not safe for use by
// several goroutines.
package task

import (
	"errors"
	"fmt"
)

// Handler runs one invocation. The input slice is reused by the next
// invocation: copy it to keep it. Returning an error fails the invocation with
// the error's message.
type Handler func(input []byte) ([]byte, error)

var handler Handler

// Handle registers h as the task's handler. Call it from an init function.
func Handle(h Handler) { handler = h }

// The tasks of a fused module (ABI version 2), in the order Bind saw them.
// Empty in a module of one task.
var (
	fusedNames    []string
	fusedHandlers []Handler
	fusedIndex    = map[string]int32{}
)

// Bind is called by the code guest-sdk/build generates for a fused module,
// never by a task: it files the handler the task's package registered with
// Handle under the task's name and clears it for the next package. Go runs
// a package's init functions in the order of its file names and finishes
// one package before the next, so a generated file that sorts last in each
// task's package binds exactly that package's handler. Bind panics (which
// fails the module's _initialize, naming the task) when the package
// registered no handler or the name is bound twice.
func Bind(name string) {
	if handler == nil {
		panic(fmt.Sprintf("task: fused task %q registered no handler (call task.Handle in an init function)", name))
	}
	if _, dup := fusedIndex[name]; dup {
		panic(fmt.Sprintf("task: two tasks of a fused module are named %q", name))
	}
	fusedIndex[name] = int32(len(fusedNames))
	fusedNames = append(fusedNames, name)
	fusedHandlers = append(fusedHandlers, handler)
	handler = nil
}

// Code is an ABI error code (see guest-sdk/ABI.md).
type Code int32

// Error codes of the ABI.
const (
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

// Sentinel errors, matched by errors.Is against a *CallError.
var (
	ErrUnknownTask = errors.New("unknown task")
	ErrFailed      = errors.New("task failed")
	ErrTooLarge    = errors.New("payload too large")
	ErrDepth       = errors.New("call depth exceeded")
	ErrDeadline    = errors.New("deadline exceeded")
	ErrUnavailable = errors.New("task unavailable")
	ErrBadArgument = errors.New("bad argument")
	ErrInternal    = errors.New("host internal error")
	ErrNotFound    = errors.New("not found")
	ErrTooMany     = errors.New("too many outstanding calls")
)

var sentinels = map[Code]error{
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

// CallError is the error of a failed call, kv access or start.
type CallError struct {
	Task    string // the callee, or the key for kv errors
	Code    Code
	Message string // the host's or callee's message
}

func (e *CallError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("call %s: %v", e.Task, sentinels[e.Code])
	}
	return fmt.Sprintf("call %s: %s", e.Task, e.Message)
}

// Unwrap returns the sentinel for e.Code.
func (e *CallError) Unwrap() error {
	if s, ok := sentinels[e.Code]; ok {
		return s
	}
	return ErrInternal
}

// Pending is a sync call started with Start, running in parallel with the
// caller. Wait for every Pending before the handler returns.
type Pending struct {
	name   string
	handle int32
}

// Log levels.
const (
	LevelDebug int32 = iota
	LevelInfo
	LevelWarn
	LevelError
)
