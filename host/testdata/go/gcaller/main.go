// Command gcaller calls task gecho with its input, reusing one result buffer,
// and returns gecho's result: the fused-call benchmark between Go tasks.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

var buf = make([]byte, 0, 64<<10)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		res, err := task.CallInto(buf, "gecho", in)
		if err != nil {
			return nil, err
		}
		buf = res[:0]
		return res, nil
	})
}

func main() {}
