// Task getcart of the webshop: returns a cart's items through cartkvstorage
// (sync).
package main

import (
	"encoding/json"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.HandleJSON(func(in struct {
		CartID string `json:"cartId"`
	}) (json.RawMessage, error) {
		return task.CallJSON[json.RawMessage]("cartkvstorage", map[string]string{"op": "get", "cartId": in.CartID})
	})
}

func main() {}
