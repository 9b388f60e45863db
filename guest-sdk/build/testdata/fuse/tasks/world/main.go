// Command world calls hello with "world" and adds "!".
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		out, err := task.Call("hello", []byte("world"))
		if err != nil {
			return nil, err
		}
		return append(out, '!'), nil
	})
}

func main() {}
