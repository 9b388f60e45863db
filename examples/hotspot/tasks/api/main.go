// Task api, the entry of the hotspot app: checks the user with auth, looks
// the items up in catalog, has score rank them and format render the
// answer, each a sync call, one after the other.
package main

import (
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		user, err := task.Call("auth", in)
		if err != nil {
			return nil, err
		}
		items, err := task.Call("catalog", in)
		if err != nil {
			return nil, err
		}
		ranked, err := task.Call("score", items)
		if err != nil {
			return nil, err
		}
		page, err := task.Call("format", fmt.Appendf(nil, `{"user":%s,"ranked":%s}`, user, ranked))
		if err != nil {
			return nil, err
		}
		return fmt.Appendf(nil, `{"task":"api","page":%s}`, page), nil
	})
}

func main() {}
