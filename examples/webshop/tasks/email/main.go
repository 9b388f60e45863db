// Task email of the webshop: renders the order confirmation and sends it.
// The mail server is stood in for by a 3 ms wait; the rendered mail is kept
// in the key-value store under mail/<orderId>. Called async by checkout.
package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type order struct {
	Email   string `json:"email"`
	OrderID string `json:"orderId"`
	Order   struct {
		TrackingID string `json:"trackingId"`
		Total      struct {
			Currency string `json:"currency"`
			Cents    int64  `json:"cents"`
		} `json:"total"`
		Items []struct {
			ProductID string `json:"productId"`
			Quantity  int    `json:"quantity"`
		} `json:"items"`
	} `json:"order"`
}

func init() {
	task.HandleJSON(func(in order) (string, error) {
		if !strings.Contains(in.Email, "@") {
			return "", fmt.Errorf("email: bad address %q", in.Email)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "To: %s\nSubject: Your order %s\n\nThank you for your order!\n", in.Email, in.OrderID)
		for _, it := range in.Order.Items {
			fmt.Fprintf(&b, "  %d × %s\n", it.Quantity, it.ProductID)
		}
		t := in.Order.Total
		fmt.Fprintf(&b, "Total: %d.%02d %s\nTracking: %s\n", t.Cents/100, t.Cents%100, t.Currency, in.Order.TrackingID)
		time.Sleep(3 * time.Millisecond)
		return "sent", task.Put("mail/"+in.OrderID, []byte(b.String()))
	})
}

func main() {}
