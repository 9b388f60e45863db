// Task getproduct of the webshop: looks up one product by id in the catalog
// (from listproducts, sync).
package main

import (
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type product struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Description   string   `json:"description"`
	PriceUSDCents int64    `json:"priceUsdCents"`
	Categories    []string `json:"categories"`
}

func init() {
	task.HandleJSON(func(in struct {
		ID string `json:"id"`
	}) (product, error) {
		catalog, err := task.CallJSON[[]product]("listproducts", nil)
		if err != nil {
			return product{}, err
		}
		for _, p := range catalog {
			if p.ID == in.ID {
				return p, nil
			}
		}
		return product{}, fmt.Errorf("getproduct: no product %q", in.ID)
	})
}

func main() {}
