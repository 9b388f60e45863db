// Task archive of the slowbranch app, the async leaf: compresses the audit
// record's digest chain (3000 SHA-256 rounds) and stores it in the
// key-value store under slowbranch/archive/<orderId>.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type record struct {
	Fingerprint string `json:"fingerprint"`
	Order       struct {
		OrderID string `json:"orderId"`
	} `json:"order"`
}

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		var r record
		if err := json.Unmarshal(in, &r); err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		if r.Order.OrderID == "" {
			return nil, fmt.Errorf("archive: the record names no orderId")
		}
		sum := spin(in, 3000)
		if err := task.Put("slowbranch/archive/"+r.Order.OrderID, []byte(hex.EncodeToString(sum[:]))); err != nil {
			return nil, err
		}
		return fmt.Appendf(nil, `{"task":"archive","stored":%q}`, r.Order.OrderID), nil
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
