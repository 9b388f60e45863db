// Task format of the hotspot app, a light task: waits 20 ms (a stand-in for
// fetching the page template) and renders the user and the ranked products
// as the page the entry returns.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type request struct {
	User struct {
		User  string `json:"user"`
		Token string `json:"token"`
	} `json:"user"`
	Ranked struct {
		Ranked []struct {
			Name  string `json:"name"`
			SKU   string `json:"sku"`
			Score uint32 `json:"score"`
		} `json:"ranked"`
	} `json:"ranked"`
}

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		var r request
		if err := json.Unmarshal(in, &r); err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
		var b strings.Builder
		fmt.Fprintf(&b, "for %s:", r.User.User)
		for i, p := range r.Ranked.Ranked {
			fmt.Fprintf(&b, " %d. %s (%s, %d)", i+1, p.Name, p.SKU, p.Score)
		}
		sum := spin([]byte(b.String()), 100)
		return json.Marshal(map[string]string{"html": b.String(), "etag": fmt.Sprintf("%x", sum[:8]), "session": r.User.Token})
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
