// Task G of the tree app, an async leaf: waits 3 ms (a stand-in for an
// external API) and hashes the request.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		time.Sleep(3 * time.Millisecond)
		sum := spin(in, 200)
		return []byte(hex.EncodeToString(sum[:])), nil
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
