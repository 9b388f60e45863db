// Command gloop: input is a little-endian uint32 count followed by a payload;
// it calls gecho with the payload count times, reusing one result buffer,
// and returns the last result. Benchmarks divide by the count to get the cost
// of one fused call between Go tasks.
package main

import (
	"encoding/binary"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

var buf = make([]byte, 0, 64<<10)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		n := binary.LittleEndian.Uint32(in)
		payload := in[4:]
		var res []byte
		var err error
		for range n {
			res, err = task.CallInto(buf, "gecho", payload)
			if err != nil {
				return nil, err
			}
		}
		return res, nil
	})
}

func main() {}
