// Task payment of the webshop: validates a credit card (Luhn check, card
// type, expiry month) and charges an amount. The payment provider is stood
// in for by tokenizing the card with 1000 SHA-256 rounds (CPU work); the
// transaction id is derived from the token and the amount, so it is stable
// for a given request.
package main

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type request struct {
	Amount struct {
		Currency string `json:"currency"`
		Cents    int64  `json:"cents"`
	} `json:"amount"`
	CreditCard struct {
		Number   string `json:"number"`
		CVV      int    `json:"cvv"`
		ExpMonth int    `json:"expMonth"`
		ExpYear  int    `json:"expYear"`
	} `json:"creditCard"`
}

type charge struct {
	TransactionID string `json:"transactionId"`
	CardType      string `json:"cardType"`
	Last4         string `json:"last4"`
}

func init() {
	task.HandleJSON(func(in request) (charge, error) {
		cc := in.CreditCard
		num := strings.ReplaceAll(cc.Number, " ", "")
		if len(num) < 13 || !luhn(num) {
			return charge{}, fmt.Errorf("payment: card number is invalid")
		}
		var typ string
		switch {
		case num[0] == '4':
			typ = "visa"
		case num[0] == '5':
			typ = "mastercard"
		default:
			return charge{}, fmt.Errorf("payment: only VISA and MasterCard are accepted")
		}
		if cc.ExpMonth < 1 || cc.ExpMonth > 12 || cc.CVV < 100 || cc.CVV > 9999 {
			return charge{}, fmt.Errorf("payment: bad expiry month or CVV")
		}
		if in.Amount.Cents <= 0 {
			return charge{}, fmt.Errorf("payment: nothing to charge")
		}
		token := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%d/%d", num, cc.CVV, cc.ExpMonth, cc.ExpYear))
		for range 1000 {
			token = sha256.Sum256(token[:])
		}
		tx := sha256.Sum256(fmt.Appendf(nil, "%x|%s|%d", token, in.Amount.Currency, in.Amount.Cents))
		return charge{TransactionID: fmt.Sprintf("tx-%x", tx[:8]), CardType: typ, Last4: num[len(num)-4:]}, nil
	})
}

// luhn reports whether the digits pass the Luhn checksum.
func luhn(digits string) bool {
	sum := 0
	for i := range len(digits) {
		d := int(digits[len(digits)-1-i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func main() {}
