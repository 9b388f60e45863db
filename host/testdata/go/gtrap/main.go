// Command gtrap crashes its instance on input "trap" (the Go runtime's fatal
// stack overflow, which no recover catches) and echoes anything else.
package main

import (
	"runtime/debug"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

//go:noinline
func deep(n int) int {
	var pad [256]byte
	pad[n%256] = byte(n)
	return deep(n+1) + int(pad[0])
}

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		if string(in) == "trap" {
			debug.SetMaxStack(1 << 20)
			deep(0)
		}
		return in, nil
	})
}

func main() {}
