// Task audit of the slowbranch app, the head of the slow async branch:
// fingerprints the order with sustained CPU work (4000 SHA-256 rounds) and
// hands the fingerprint to archive, async. Its caller (order) does not wait
// for it, so nobody reads its result.
package main

import (
	"crypto/sha256"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		sum := spin(in, 4000)
		rec := fmt.Appendf(nil, `{"fingerprint":"%x","order":%s}`, sum[:16], in)
		if err := task.CallAsync("archive", rec); err != nil {
			return nil, err
		}
		return fmt.Appendf(nil, `{"task":"audit","fingerprint":"%x"}`, sum[:16]), nil
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
