// Task checkout of the webshop: places the order of a cart. Sync: getcart,
// listproducts (prices), shipmentquote, currency (into the user's currency),
// payment, shiporder. Async, once the order stands: email (confirmation) and
// emptycart.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type request struct {
	CartID     string          `json:"cartId"`
	UserID     string          `json:"userId"`
	Currency   string          `json:"currency"`
	Email      string          `json:"email"`
	Address    json.RawMessage `json:"address"`
	CreditCard json.RawMessage `json:"creditCard"`
}

type money struct {
	Currency string `json:"currency"`
	Cents    int64  `json:"cents"`
}

type line struct {
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
	UnitPrice money  `json:"unitPrice"`
}

type order struct {
	OrderID       string `json:"orderId"`
	TransactionID string `json:"transactionId"`
	TrackingID    string `json:"trackingId"`
	Items         []line `json:"items"`
	Shipping      money  `json:"shipping"`
	Total         money  `json:"total"`
}

func init() {
	task.HandleJSON(func(in request) (order, error) {
		var o order
		items, err := task.CallJSON[[]line]("getcart", map[string]string{"cartId": in.CartID})
		if err != nil {
			return o, err
		}
		if len(items) == 0 {
			return o, fmt.Errorf("checkout: cart is empty")
		}
		catalog, err := task.CallJSON[[]struct {
			ID            string `json:"id"`
			PriceUSDCents int64  `json:"priceUsdCents"`
		}]("listproducts", nil)
		if err != nil {
			return o, err
		}
		prices := make(map[string]int64, len(catalog))
		for _, p := range catalog {
			prices[p.ID] = p.PriceUSDCents
		}
		count := 0
		usd := make([]int64, 0, len(items)+1)
		for _, it := range items {
			p, ok := prices[it.ProductID]
			if !ok {
				return o, fmt.Errorf("checkout: unknown product %q in cart", it.ProductID)
			}
			usd = append(usd, p)
			count += it.Quantity
		}
		quote, err := task.CallJSON[struct {
			CostUSDCents int64 `json:"costUsdCents"`
		}]("shipmentquote", map[string]any{"address": in.Address, "items": count})
		if err != nil {
			return o, err
		}
		conv, err := task.CallJSON[struct {
			Amounts []int64 `json:"amounts"`
		}]("currency", map[string]any{"from": "USD", "to": in.Currency, "amounts": append(usd, quote.CostUSDCents)})
		if err != nil {
			return o, err
		}
		o.Total = money{in.Currency, 0}
		for i := range items {
			items[i].UnitPrice = money{in.Currency, conv.Amounts[i]}
			o.Total.Cents += conv.Amounts[i] * int64(items[i].Quantity)
		}
		o.Items = items
		o.Shipping = money{in.Currency, conv.Amounts[len(items)]}
		o.Total.Cents += o.Shipping.Cents

		charge, err := task.CallJSON[struct {
			TransactionID string `json:"transactionId"`
		}]("payment", map[string]any{"amount": o.Total, "creditCard": in.CreditCard})
		if err != nil {
			return o, err
		}
		o.TransactionID = charge.TransactionID
		ship, err := task.CallJSON[struct {
			TrackingID string `json:"trackingId"`
		}]("shiporder", map[string]any{"address": in.Address, "items": items})
		if err != nil {
			return o, err
		}
		o.TrackingID = ship.TrackingID
		id := sha256.Sum256([]byte(in.UserID + "|" + o.TransactionID + "|" + o.TrackingID))
		o.OrderID = fmt.Sprintf("ord-%x", id[:6])

		if err := task.CallAsyncJSON("email", map[string]any{"email": in.Email, "orderId": o.OrderID, "order": o}); err != nil {
			return o, err
		}
		if err := task.CallAsyncJSON("emptycart", map[string]string{"cartId": in.CartID}); err != nil {
			return o, err
		}
		return o, nil
	})
}

func main() {}
