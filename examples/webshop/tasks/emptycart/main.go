// Task emptycart of the webshop: empties a cart through cartkvstorage (sync).
// Called async by checkout once the order is placed.
package main

import (
	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.HandleJSON(func(in struct {
		CartID string `json:"cartId"`
	}) (struct{}, error) {
		_, err := task.CallJSON[[]struct{}]("cartkvstorage", map[string]string{"op": "empty", "cartId": in.CartID})
		return struct{}{}, err
	})
}

func main() {}
