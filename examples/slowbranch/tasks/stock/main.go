// Task stock of the slowbranch app, on the sync path: waits 5 ms (a
// stand-in for the inventory database) and answers whether the quantity is
// in stock.
package main

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type order struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

type answer struct {
	SKU       string `json:"sku"`
	Available int    `json:"available"`
	InStock   bool   `json:"inStock"`
}

func init() {
	task.HandleJSON(func(o order) (answer, error) {
		if o.SKU == "" || o.Quantity <= 0 {
			return answer{}, fmt.Errorf("stock: want a sku and a positive quantity, got %q × %d", o.SKU, o.Quantity)
		}
		time.Sleep(5 * time.Millisecond)
		s := spin([]byte(o.SKU), 150)
		avail := int(s[0]) % 50
		return answer{SKU: o.SKU, Available: avail, InStock: avail >= o.Quantity}, nil
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
