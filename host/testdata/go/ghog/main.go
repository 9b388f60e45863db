// Command ghog allocates memory without bound.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

var keep [][]byte

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		for {
			b := make([]byte, 1<<20)
			b[0] = 1
			keep = append(keep, b)
		}
	})
}

func main() {}
