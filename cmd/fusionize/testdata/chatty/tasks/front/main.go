// Task front, the entry of the chatty app: calls back sync three times in
// a row and answers with the last result.
package main

import (
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

var out []byte // reused across invocations

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		var b []byte
		for range 3 {
			var err error
			if b, err = task.Call("back", in); err != nil {
				return nil, err
			}
		}
		out = fmt.Appendf(out[:0], `{"task":"front","back":%s}`, b)
		return out, nil
	})
}

func main() {}
