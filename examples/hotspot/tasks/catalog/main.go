// Task catalog of the hotspot app, a light task: waits 45 ms (a stand-in
// for a product database) and answers each requested item with a
// deterministic product record.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type request struct {
	Items []string `json:"items"`
}

type product struct {
	Name   string `json:"name"`
	SKU    string `json:"sku"`
	Cents  int    `json:"cents"`
	Weight int    `json:"weight"`
}

func init() {
	task.HandleJSON(func(r request) (map[string][]product, error) {
		if len(r.Items) == 0 {
			return nil, fmt.Errorf("catalog: the request names no items")
		}
		time.Sleep(45 * time.Millisecond)
		out := make([]product, len(r.Items))
		for i, name := range r.Items {
			s := spin([]byte(name), 40)
			out[i] = product{Name: name, SKU: fmt.Sprintf("%X", s[:5]),
				Cents: 500 + int(binary.BigEndian.Uint16(s[5:7]))%20000, Weight: 1 + int(s[7])%40}
		}
		return map[string][]product{"products": out}, nil
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
