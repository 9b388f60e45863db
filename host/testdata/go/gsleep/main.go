// Command gsleep sleeps for the number of milliseconds in its input and
// returns "slept".
package main

import (
	"strconv"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		ms, err := strconv.Atoi(string(in))
		if err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return []byte("slept"), nil
	})
}

func main() {}
