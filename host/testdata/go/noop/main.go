// Command noop is a Go task that does nothing: the warm-invocation benchmark.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

func init() { task.Handle(func([]byte) ([]byte, error) { return nil, nil }) }

func main() {}
