// Task frontend, the entry of the webshop: serves one shopping session of a
// user and answers with what the pages would show.
//
//  1. home page: supportedcurrencies, listproducts and getads, started in
//     parallel (task.Start), then currency for the prices;
//  2. search: searchproducts;
//  3. product page: getproduct, listrecommendations, getads, currency;
//  4. add to cart: addcartitem;
//  5. checkout: checkout.
//
// Every call is sync. The session's cart gets a fresh random id that never
// appears in the answer: an earlier request's async emptycart then cannot
// empty this request's cart, and the answer depends on the request alone.
package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type request struct {
	UserID     string          `json:"userId"`
	Currency   string          `json:"currency"`
	Query      string          `json:"query"`
	ProductID  string          `json:"productId"`
	Quantity   int             `json:"quantity"`
	Email      string          `json:"email"`
	Address    json.RawMessage `json:"address"`
	CreditCard json.RawMessage `json:"creditCard"`
}

type product struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	PriceUSDCents int64    `json:"priceUsdCents"`
	Categories    []string `json:"categories"`
}

type shown struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Price int64  `json:"price"` // cents in the session's currency
}

type page struct {
	Currency        string            `json:"currency"`
	Home            []shown           `json:"home"`
	HomeAds         []json.RawMessage `json:"homeAds"`
	Search          []string          `json:"search"`
	Product         shown             `json:"product"`
	Recommendations []string          `json:"recommendations"`
	ProductAds      []json.RawMessage `json:"productAds"`
	CartItems       int               `json:"cartItems"`
	Order           json.RawMessage   `json:"order"`
}

type converted struct {
	Amounts []int64 `json:"amounts"`
}

func init() {
	task.HandleJSON(func(in request) (page, error) {
		p := page{Currency: in.Currency}

		// 1. Home page: three independent calls at once.
		cur, err := task.Start("supportedcurrencies", nil)
		if err != nil {
			return p, err
		}
		list, err := task.Start("listproducts", nil)
		if err != nil {
			_, _ = cur.Wait()
			return p, err
		}
		ads, err := task.StartJSON("getads", map[string][]string{"keywords": {}})
		if err != nil {
			_, _ = cur.Wait()
			_, _ = list.Wait()
			return p, err
		}
		currencies, errC := task.WaitJSON[[]string](cur)
		catalog, errL := task.WaitJSON[[]product](list)
		homeAds, errA := task.WaitJSON[[]json.RawMessage](ads)
		for _, err := range []error{errC, errL, errA} {
			if err != nil {
				return p, err
			}
		}
		if !slices.Contains(currencies, in.Currency) {
			return p, fmt.Errorf("frontend: currency %q is not supported", in.Currency)
		}
		p.HomeAds = homeAds
		usd := make([]int64, len(catalog))
		for i, c := range catalog {
			usd[i] = c.PriceUSDCents
		}
		prices, err := convert(usd, in.Currency)
		if err != nil {
			return p, err
		}
		for i, c := range catalog {
			p.Home = append(p.Home, shown{c.ID, c.Name, prices[i]})
		}

		// 2. Search.
		if p.Search, err = task.CallJSON[[]string]("searchproducts", map[string]string{"query": in.Query}); err != nil {
			return p, err
		}

		// 3. Product page.
		prod, err := task.CallJSON[product]("getproduct", map[string]string{"id": in.ProductID})
		if err != nil {
			return p, err
		}
		if p.Recommendations, err = task.CallJSON[[]string]("listrecommendations", map[string][]string{"productIds": {prod.ID}}); err != nil {
			return p, err
		}
		if p.ProductAds, err = task.CallJSON[[]json.RawMessage]("getads", map[string][]string{"keywords": prod.Categories}); err != nil {
			return p, err
		}
		price, err := convert([]int64{prod.PriceUSDCents}, in.Currency)
		if err != nil {
			return p, err
		}
		p.Product = shown{prod.ID, prod.Name, price[0]}

		// 4. Add to cart, in a cart of this session.
		cartID := rand.Text()
		added, err := task.CallJSON[struct {
			CartItems int `json:"cartItems"`
		}]("addcartitem", map[string]any{"cartId": cartID, "productId": prod.ID, "quantity": in.Quantity})
		if err != nil {
			return p, err
		}
		p.CartItems = added.CartItems

		// 5. Checkout.
		p.Order, err = task.CallJSON[json.RawMessage]("checkout", map[string]any{
			"cartId": cartID, "userId": in.UserID, "currency": in.Currency,
			"email": in.Email, "address": in.Address, "creditCard": in.CreditCard,
		})
		return p, err
	})
}

// convert converts USD cents into the session's currency.
func convert(usd []int64, to string) ([]int64, error) {
	c, err := task.CallJSON[converted]("currency", map[string]any{"from": "USD", "to": to, "amounts": usd})
	return c.Amounts, err
}

func main() {}
