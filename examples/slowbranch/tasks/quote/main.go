// Task quote of the slowbranch app, on the sync path: prices the order
// (unit price from the sku, VAT by country) with a little CPU work.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type order struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
	Country  string `json:"country"`
}

type answer struct {
	UnitCents  int `json:"unitCents"`
	VATPercent int `json:"vatPercent"`
	TotalCents int `json:"totalCents"`
}

var vat = map[string]int{"DE": 19, "FR": 20, "NL": 21, "AT": 20}

func init() {
	task.HandleJSON(func(o order) (answer, error) {
		v, ok := vat[o.Country]
		if !ok {
			return answer{}, fmt.Errorf("quote: no VAT rate for country %q", o.Country)
		}
		s := spin([]byte(o.SKU), 200)
		unit := 100 + int(binary.BigEndian.Uint16(s[:2]))%9900
		net := unit * o.Quantity
		return answer{UnitCents: unit, VATPercent: v, TotalCents: net + net*v/100}, nil
	})
}

// spin is the task's CPU work: a chain of SHA-256 rounds over data.
func spin(data []byte, rounds int) [32]byte {
	s := sha256.Sum256(data)
	for range rounds - 1 {
		s = sha256.Sum256(s[:])
	}
	return s
}

func main() {}
