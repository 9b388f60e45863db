// Task C of the tree app: hashes its input and fans out to F and G async.
// Its caller (A) does not wait for it, so nobody reads its result.
package main

import (
	"crypto/sha256"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		sum := spin(in, 350)
		if err := task.CallAsync("F", in); err != nil {
			return nil, err
		}
		if err := task.CallAsync("G", in); err != nil {
			return nil, err
		}
		return fmt.Appendf(nil, `{"task":"C","sum":"%x"}`, sum[:8]), nil
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
