// Command glog writes its input, a decimal count N, as N numbered lines to
// stdout and N to stderr, logs one line through the log import, and
// returns "ok".
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		n, err := strconv.Atoi(string(in))
		if err != nil {
			return nil, err
		}
		for i := range n {
			fmt.Fprintf(os.Stdout, "stdout line %d\n", i)
			fmt.Fprintf(os.Stderr, "stderr line %d\n", i)
		}
		task.Log(task.LevelInfo, "through the log import")
		return []byte("ok"), nil
	})
}

func main() {}
