// Task addcartitem of the webshop: validates an item and puts it into the
// cart through cartkvstorage (sync).
package main

import (
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type request struct {
	CartID    string `json:"cartId"`
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
}

func init() {
	task.HandleJSON(func(in request) (map[string]int, error) {
		if in.ProductID == "" || in.Quantity < 1 || in.Quantity > 99 {
			return nil, fmt.Errorf("addcartitem: bad item %q × %d", in.ProductID, in.Quantity)
		}
		items, err := task.CallJSON[[]struct{}]("cartkvstorage", map[string]any{
			"op": "add", "cartId": in.CartID, "productId": in.ProductID, "quantity": in.Quantity,
		})
		return map[string]int{"cartItems": len(items)}, err
	})
}

func main() {}
