// Task B of the tree app: hashes its input and calls D (the WAT task) sync.
package main

import (
	"crypto/sha256"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

var out, res []byte // reused across invocations

func init() {
	res = make([]byte, 0, 512)
	task.Handle(func(in []byte) ([]byte, error) {
		sum := spin(in, 400)
		d, err := task.CallInto(res, "D", in)
		if err != nil {
			return nil, err
		}
		res = d[:0] // keep a grown buffer
		out = fmt.Appendf(out[:0], `{"task":"B","sum":"%x","d":%s}`, sum[:8], d)
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
