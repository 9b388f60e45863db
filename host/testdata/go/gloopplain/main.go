// Command gloopplain does gloop's work without calling another task: count
// times it copies the payload into a callee's input buffer, calls a plain Go
// function that returns it, and copies the result into a reused buffer. It
// is the floor of a call between two Go tasks inside one module.
package main

import (
	"encoding/binary"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

var inB, buf = make([]byte, 0, 64<<10), make([]byte, 0, 64<<10)

//go:noinline
func echo(in []byte) ([]byte, error) { return in, nil }

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		n := binary.LittleEndian.Uint32(in)
		payload := in[4:]
		var res []byte
		for range n {
			inB = append(inB[:0], payload...)
			out, err := echo(inB)
			if err != nil {
				return nil, err
			}
			res = append(buf[:0], out...)
		}
		return res, nil
	})
}

func main() {}
