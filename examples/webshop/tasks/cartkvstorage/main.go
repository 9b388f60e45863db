// Task cartkvstorage of the webshop: the only task that touches carts in the
// key-value store (the BeFaaS port keeps carts in a managed KV store). One key
// per cart, cart/<cartId>, holding the items as JSON. Operations:
//
//	{"op":"add","cartId":…,"productId":…,"quantity":n}  set the item's quantity
//	{"op":"get","cartId":…}                             the items, sorted by id
//	{"op":"empty","cartId":…}                           remove all items
//
// "add" sets rather than adds the quantity, so a retried request does not
// double an item. Called sync by addcartitem, getcart and emptycart.
package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type item struct {
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
}

type request struct {
	Op        string `json:"op"`
	CartID    string `json:"cartId"`
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
}

func init() {
	task.HandleJSON(func(in request) ([]item, error) {
		if in.CartID == "" {
			return nil, fmt.Errorf("cartkvstorage: no cartId")
		}
		key := "cart/" + in.CartID
		items := []item{}
		if raw, ok, err := task.Get(key); err != nil {
			return nil, err
		} else if ok && len(raw) > 0 {
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, fmt.Errorf("cartkvstorage: %s: %w", key, err)
			}
		}
		switch in.Op {
		case "get":
			return items, nil
		case "add":
			i := slices.IndexFunc(items, func(it item) bool { return it.ProductID == in.ProductID })
			if i < 0 {
				items = append(items, item{ProductID: in.ProductID})
				i = len(items) - 1
			}
			items[i].Quantity = in.Quantity
			slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.ProductID, b.ProductID) })
		case "empty":
			items = []item{}
		default:
			return nil, fmt.Errorf("cartkvstorage: unknown op %q", in.Op)
		}
		b, _ := json.Marshal(items)
		return items, task.Put(key, b)
	})
}

func main() {}
