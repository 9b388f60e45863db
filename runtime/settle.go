package runtime

import (
	"context"
	"time"

	"github.com/fusionize/fusionize/host"
)

// Server is what a platform runtime's handler needs of its group's host (a
// *host.Host).
type Server interface {
	Name() string
	Serve(ctx context.Context, c host.Call) ([]byte, error)
	// Quiet reports whether no call is running and none arrived within d.
	Quiet(d time.Duration) bool
	Stats() host.Stats
}

// Settle returns once no call is running on s (an invocation's in-memory
// async work is done), or ctx ends. Runtimes call it before an
// invocation's work may stop: Lambda freezes the environment at the next
// event, Cloud Run throttles an instance once its answer is sent.
func Settle(ctx context.Context, s interface{ Quiet(time.Duration) bool }) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for !s.Quiet(0) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
