// Command hello2 answers "hello, <input>": hello with another source.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

func init() {
	task.Handle(func(in []byte) ([]byte, error) { return append([]byte("hello, "), in...), nil })
}

func main() {}
