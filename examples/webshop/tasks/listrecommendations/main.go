// Task listrecommendations of the webshop: recommends up to four products
// that are not among the given ones, ranked by a hash of the pair (a stable
// stand-in for the Online Boutique's random pick). Calls listproducts sync.
package main

import (
	"cmp"
	"hash/fnv"
	"slices"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type product struct {
	ID string `json:"id"`
}

func init() {
	task.HandleJSON(func(in struct {
		ProductIDs []string `json:"productIds"`
	}) ([]string, error) {
		catalog, err := task.CallJSON[[]product]("listproducts", nil)
		if err != nil {
			return nil, err
		}
		type scored struct {
			id    string
			score uint64
		}
		var cands []scored
		for _, p := range catalog {
			if slices.Contains(in.ProductIDs, p.ID) {
				continue
			}
			h := fnv.New64a()
			for _, id := range in.ProductIDs {
				h.Write([]byte(id))
			}
			h.Write([]byte(p.ID))
			cands = append(cands, scored{p.ID, h.Sum64()})
		}
		slices.SortFunc(cands, func(a, b scored) int { return cmp.Compare(a.score, b.score) })
		ids := []string{}
		for _, c := range cands[:min(4, len(cands))] {
			ids = append(ids, c.id)
		}
		return ids, nil
	})
}

func main() {}
