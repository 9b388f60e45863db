// Command hello answers "hello <input>".
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

func init() {
	task.Handle(func(in []byte) ([]byte, error) { return append([]byte("hello "), in...), nil })
}

func main() {}
