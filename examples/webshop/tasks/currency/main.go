// Task currency of the webshop: converts amounts (in cents) from one
// currency to another with fixed euro reference rates (as the Online
// Boutique ships them), rounding half away from zero to whole cents.
package main

import (
	"fmt"
	"math"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

// eurRates: units of each currency per euro.
var eurRates = map[string]float64{
	"EUR": 1.0, "USD": 1.1305, "JPY": 126.40, "GBP": 0.85970,
	"TRY": 6.1247, "CAD": 1.5128, "CHF": 1.1360,
}

type request struct {
	From    string  `json:"from"`
	To      string  `json:"to"`
	Amounts []int64 `json:"amounts"`
}

type response struct {
	Currency string  `json:"currency"`
	Amounts  []int64 `json:"amounts"`
}

func init() {
	task.HandleJSON(func(in request) (response, error) {
		from, ok1 := eurRates[in.From]
		to, ok2 := eurRates[in.To]
		if !ok1 || !ok2 {
			return response{}, fmt.Errorf("currency: cannot convert %s to %s", in.From, in.To)
		}
		out := response{Currency: in.To, Amounts: make([]int64, len(in.Amounts))}
		for i, a := range in.Amounts {
			out.Amounts[i] = int64(math.Round(float64(a) / from * to))
		}
		return out, nil
	})
}

func main() {}
