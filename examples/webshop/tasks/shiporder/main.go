// Task shiporder of the webshop: hands an order to the carrier (stood in for
// by a 2 ms wait) and returns the tracking id, derived from the address and
// the items so that it is stable for a given order.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type request struct {
	Address json.RawMessage `json:"address"`
	Items   json.RawMessage `json:"items"`
}

func init() {
	task.HandleJSON(func(in request) (map[string]string, error) {
		time.Sleep(2 * time.Millisecond)
		sum := sha256.Sum256(append(append([]byte(nil), in.Address...), in.Items...))
		return map[string]string{"trackingId": fmt.Sprintf("TRK-%X", sum[:6])}, nil
	})
}

func main() {}
