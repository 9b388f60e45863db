// Command gpanic panics on input "panic" and echoes anything else.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		if string(in) == "panic" {
			var m map[string]int
			m["boom"]++ // nil map write: a real runtime panic
		}
		return in, nil
	})
}

func main() {}
