// Task F of the tree app, an async leaf: hashes the request and stores the
// digest in the key-value store under tree/f/<id>.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type request struct {
	ID string `json:"id"`
}

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		var req request
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, err
		}
		sum := spin(in, 500)
		digest := []byte(hex.EncodeToString(sum[:]))
		if err := task.Put("tree/f/"+req.ID, digest); err != nil {
			return nil, err
		}
		return digest, nil
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
