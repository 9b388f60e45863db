// Task searchproducts of the webshop: returns the ids of the products whose
// name, description or categories contain the query (case-insensitive), from
// the catalog of listproducts (sync).
package main

import (
	"strings"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type product struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Categories  []string `json:"categories"`
}

func init() {
	task.HandleJSON(func(in struct {
		Query string `json:"query"`
	}) ([]string, error) {
		catalog, err := task.CallJSON[[]product]("listproducts", nil)
		if err != nil {
			return nil, err
		}
		q := strings.ToLower(in.Query)
		ids := []string{}
		for _, p := range catalog {
			text := strings.ToLower(p.Name + " " + p.Description + " " + strings.Join(p.Categories, " "))
			if strings.Contains(text, q) {
				ids = append(ids, p.ID)
			}
		}
		return ids, nil
	})
}

func main() {}
