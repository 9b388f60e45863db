// Command gvia calls the task named before the first ':' of its input with
// the rest, and returns its result or fails with its error. Input "self"
// calls gvia itself with the same input: a call cycle.
package main

import (
	"bytes"
	"errors"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		if string(in) == "self" {
			return task.Call("gvia", in)
		}
		name, rest, ok := bytes.Cut(in, []byte(":"))
		if !ok {
			return nil, errors.New("gvia: input is task:payload")
		}
		return task.Call(string(name), rest)
	})
}

func main() {}
