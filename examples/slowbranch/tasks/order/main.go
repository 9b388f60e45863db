// Task order, the entry of the slowbranch app: hands the order to audit
// async (nobody waits for it), then checks stock and gets a price quote,
// both sync, and answers with both.
package main

import (
	"crypto/sha256"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		if err := task.CallAsync("audit", in); err != nil {
			return nil, err
		}
		stock, err := task.Call("stock", in)
		if err != nil {
			return nil, err
		}
		quote, err := task.Call("quote", in)
		if err != nil {
			return nil, err
		}
		sum := spin(in, 100)
		return fmt.Appendf(nil, `{"task":"order","receipt":"%x","stock":%s,"quote":%s}`, sum[:8], stock, quote), nil
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
