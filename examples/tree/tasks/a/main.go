// Task A, the entry of the tree app: hashes the request, calls B sync and
// C async, and answers with B's result.
package main

import (
	"crypto/sha256"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

var out []byte // reused across invocations

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		sum := spin(in, 300)
		b, err := task.Call("B", in)
		if err != nil {
			return nil, err
		}
		if err := task.CallAsync("C", in); err != nil {
			return nil, err
		}
		out = fmt.Appendf(out[:0], `{"task":"A","sum":"%x","b":%s}`, sum[:8], b)
		return out, nil
	})
}

// spin is the task's CPU work: a chain of SHA-256 rounds over data.
func spin(data []byte, rounds int) [32]byte {
	s := sha256.Sum256(data)
	for range rounds - 1 {
		s = sha256.Sum256(s[:])
	}
	return s
}

func main() {}
