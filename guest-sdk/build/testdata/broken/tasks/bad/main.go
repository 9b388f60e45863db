// Command bad does not compile: the build test checks that its error names it.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

func init() {
	task.Handle(func(in []byte) ([]byte, error) { return in, undefinedValue })
}

func main() {}
