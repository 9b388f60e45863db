package route

import (
	"fmt"
	"testing"

	"github.com/fusionize/fusionize/host"
)

// TestRefusedGoesByTheHostsCodeNotItsMessage: a request is sent again only
// when the host said CodeUnavailable, whatever the message says.
func TestRefusedGoesByTheHostsCodeNotItsMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&host.Error{Task: "I", Code: host.CodeUnavailable, Msg: "host is draining"}, true},
		{fmt.Errorf("invoke I: %w", &host.Error{Task: "I", Code: host.CodeUnavailable, Msg: "gone"}), true},
		{&host.Error{Task: "I", Code: host.CodeFailed, Msg: "task says: host is draining, connection refused"}, false},
		{&host.Error{Task: "I", Code: host.CodeDeadline, Msg: "shutting down"}, false},
	} {
		if got := Refused(tc.err); got != tc.want {
			t.Errorf("Refused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
