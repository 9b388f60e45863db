// Task E of the tree app, the leaf of the sync chain A→B→D→E: called by the
// WAT task D with {"d":<D's checksum>,"in":<the request>}, it waits 2 ms (a
// stand-in for a database round trip), hashes the request and echoes D's
// checksum so that D's output depends on it.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type input struct {
	D  string          `json:"d"`
	In json.RawMessage `json:"in"`
}

func init() {
	task.HandleJSON(func(in input) (map[string]string, error) {
		time.Sleep(2 * time.Millisecond)
		sum := spin(in.In, 250)
		return map[string]string{"task": "E", "d": in.D, "sum": fmt.Sprintf("%x", sum[:8])}, nil
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
