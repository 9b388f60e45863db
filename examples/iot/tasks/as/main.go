// Task AS (ActionSignage) of the IoT app: shows a message on the variable
// message sign at a location. The sign's controller is stood in for by a
// 2 ms wait and the sign's state by the key-value store (signage/<location>).
// Called async by CT and CA.
package main

import (
	"strings"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type input struct {
	Location string `json:"location"`
	Message  string `json:"message"`
}

const width = 32 // characters per line of the sign

func init() {
	task.HandleJSON(func(in input) (string, error) {
		text := layout(strings.ToUpper(in.Message))
		time.Sleep(2 * time.Millisecond)
		return text, task.Put("signage/"+in.Location, []byte(text))
	})
}

// layout breaks msg into lines of at most width characters.
func layout(msg string) string {
	var b strings.Builder
	n := 0
	for w := range strings.FieldsSeq(msg) {
		if n > 0 && n+1+len(w) > width {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

func main() {}
