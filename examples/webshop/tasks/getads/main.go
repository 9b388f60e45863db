// Task getads of the webshop: picks up to two ads matching the page's
// context keywords (product categories), or two default ads.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

type ad struct {
	RedirectURL string `json:"redirectUrl"`
	Text        string `json:"text"`
}

var ads = map[string]ad{
	"accessories": {"/product/1YMWWN1N4O", "Watch for sale. Buy one, get second kit for free"},
	"clothing":    {"/product/66VCHSJNUP", "Tank top for sale. 20% off."},
	"decor":       {"/product/0PUK6V6EV0", "Candle holder for sale. 30% off."},
	"footwear":    {"/product/L9ECAV7KIM", "Loafers for sale. Buy one, get second one for free"},
	"hair":        {"/product/2ZYFJ3GM2N", "Hairdryer for sale. 50% off."},
	"kitchen":     {"/product/9SIQT8TOJO", "Bamboo glass jar for sale. 10% off."},
}

var defaults = []string{"accessories", "kitchen"}

func init() {
	task.HandleJSON(func(in struct {
		Keywords []string `json:"keywords"`
	}) ([]ad, error) {
		out := []ad{}
		for _, k := range append(in.Keywords, defaults...) {
			if a, ok := ads[k]; ok && len(out) < 2 && !contains(out, a) {
				out = append(out, a)
			}
		}
		return out, nil
	})
}

func contains(as []ad, a ad) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

func main() {}
