// Command gecho is a Go task that returns its input.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

func init() { task.Handle(func(in []byte) ([]byte, error) { return in, nil }) }

func main() {}
