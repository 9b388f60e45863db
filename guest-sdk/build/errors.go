package build

import (
	"errors"
	"fmt"
)

// ErrWat2WasmNotFound is wrapped by the error of a WAT task that needs
// building when the wat2wasm tool (from wabt) is not on PATH.
var ErrWat2WasmNotFound = errors.New("wat2wasm not found: run scripts/install-tools.sh --with-wabt or apt-get install wabt")

// TaskError is the error of one task that failed to build. Build joins the
// TaskErrors of all failed tasks with errors.Join; errors.As finds them.
type TaskError struct {
	Task   string // the task's name
	Output string // the compiler's combined stdout and stderr, if it ran
	Err    error  // what went wrong
}

func (e *TaskError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("build: task %q: %v", e.Task, e.Err)
	}
	return fmt.Sprintf("build: task %q: %v\n%s", e.Task, e.Err, e.Output)
}

func (e *TaskError) Unwrap() error { return e.Err }

// ErrAssemblyScriptNotFound is wrapped by the error of an AssemblyScript task
// that needs building when the AssemblyScript compiler is not installed in
// the SDK's folder (or Node.js is missing).
var ErrAssemblyScriptNotFound = errors.New("AssemblyScript compiler not found: run scripts/install-assemblyscript.sh (npm ci in guest-sdk/assemblyscript; needs Node.js 20 or later)")
