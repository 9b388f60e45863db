// Command grepeat runs steps of sync calls and reports each call: its input
// is lines "K task payload", each calling task K times with payload (or,
// for a payload "#N", with N bytes of 'x'); its output has one line per
// call, "ok N" (N result bytes) or "err " and the call's error. It fails
// only on a malformed line, so that the errors of many calls can be
// compared.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

var buf = make([]byte, 0, 64<<10)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		var out []byte
		for line := range bytes.Lines(in) {
			f := bytes.SplitN(bytes.TrimSpace(line), []byte(" "), 3)
			if len(f) != 3 {
				return nil, errors.New("grepeat: a line is \"K task payload\"")
			}
			k, err := strconv.Atoi(string(f[0]))
			if err != nil {
				return nil, fmt.Errorf("grepeat: count %q: %v", f[0], err)
			}
			payload := f[2]
			if n, err := strconv.Atoi(string(bytes.TrimPrefix(payload, []byte("#")))); err == nil && payload[0] == '#' {
				payload = bytes.Repeat([]byte("x"), n)
			}
			for range k {
				res, err := task.CallInto(buf, string(f[1]), payload)
				if err != nil {
					out = fmt.Appendf(out, "err %v\n", err)
					continue
				}
				out = fmt.Appendf(out, "ok %d\n", len(res))
			}
		}
		return out, nil
	})
}

func main() {}
