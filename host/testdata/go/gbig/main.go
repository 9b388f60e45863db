// Command gbig answers input "error N" with an error message of N bytes
// (it starts with "first words", ends with "last words") and "output N"
// with an output of N bytes.
package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		kind, num, _ := strings.Cut(string(in), " ")
		n, err := strconv.Atoi(num)
		if err != nil {
			return nil, err
		}
		switch kind {
		case "error":
			const head, tail = "first words ", " last words"
			return nil, errors.New(head + strings.Repeat("x", max(n-len(head)-len(tail), 0)) + tail)
		case "output":
			return make([]byte, n), nil
		}
		return nil, errors.New("want error N or output N")
	})
}

func main() {}
