// Task back of the chatty app: a little CPU work (SHA-256 rounds over the
// request) per call.
package main

import (
	"crypto/sha256"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

var out []byte // reused across invocations

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		s := sha256.Sum256(in)
		for range 199 {
			s = sha256.Sum256(s[:])
		}
		out = fmt.Appendf(out[:0], `{"task":"back","sum":"%x"}`, s[:8])
		return out, nil
	})
}

func main() {}
