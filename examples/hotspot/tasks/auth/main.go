// Task auth of the hotspot app, a light task: waits 3 ms (a stand-in for a
// session store's round trip) and answers with a token derived from the
// user id.
package main

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type request struct {
	User string `json:"user"`
}

func init() {
	task.HandleJSON(func(r request) (map[string]string, error) {
		if r.User == "" {
			return nil, fmt.Errorf("auth: the request names no user")
		}
		time.Sleep(25 * time.Millisecond)
		sum := spin([]byte(r.User), 100)
		return map[string]string{"user": r.User, "token": fmt.Sprintf("%x", sum[:8])}, nil
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
