// Package netem emulates the network between places for the emulated
// clouds: a request that arrives at an emulator from a host in another
// place waits the round trip between the two places (api/rtt's table, the
// one the optimizer's model predicts with) before it is dispatched. The
// wait is EMULATED: it stands for the network of the clouds, it is logged
// and reported as emulated, and it is never part of what the callee's
// platform bills (on a cloud the callee does not pay for the network).
//
// The caller names its place in the rtt.CallerPlaceHeader of its invoke;
// a request without it (a client outside every place) waits nothing.
//
//	n := netem.New(rtt.Default(), log)
//	waited, err := n.Wait(r.Context(), r, "aws/us-east-1") // the callee's place
//	if err != nil { return } // the caller went away
//
// Both emulators take a *rtt.Table in their Options (nil: rtt.Default())
// and `fusionize emulate aws|gcp --rtt FILE` reads one with Load.
package netem

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fusionize/fusionize/api/rtt"
)

// Network delays requests between places by their round trip. It is safe
// for concurrent use; Set changes the table for requests that arrive after.
type Network struct {
	table atomic.Pointer[rtt.Table]
	log   *slog.Logger
}

// New returns the network of table; log receives one debug line per
// delayed request (nil discards them).
func New(table rtt.Table, log *slog.Logger) *Network {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Network{log: log}
	n.Set(table)
	return n
}

// Set makes table the one requests from now on wait by.
func (n *Network) Set(table rtt.Table) { n.table.Store(&table) }

// Of returns the network of an emulator's Options field: table, or
// rtt.Default() when it is nil.
func Of(table *rtt.Table, log *slog.Logger) *Network {
	if table == nil {
		return New(rtt.Default(), log)
	}
	return New(*table, log)
}

// Table returns the table the network delays by.
func (n *Network) Table() rtt.Table { return *n.table.Load() }

// Load reads a round-trip table from the JSON file at path (rtt.Parse's
// shape, over the defaults); errors name the file.
func Load(path string) (rtt.Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return rtt.Table{}, fmt.Errorf("netem: round-trip table: %w", err)
	}
	t, err := rtt.Parse(data)
	if err != nil {
		return rtt.Table{}, fmt.Errorf("netem: round-trip table %s: %w", path, err)
	}
	return t, nil
}

// CallerPlace returns the place r's caller named, "" for none.
func CallerPlace(r *http.Request) string {
	return strings.TrimSpace(r.Header.Get(rtt.CallerPlaceHeader))
}

// Delay returns the round trip a request from caller pays to reach place:
// zero without a caller.
func (n *Network) Delay(caller, place string) time.Duration {
	if caller == "" {
		return 0
	}
	return n.table.Load().Between(caller, place)
}

// Wait holds r for the round trip between its caller's place and place,
// and returns how long it waited (emulated). It returns early with
// ctx's error when ctx ends.
func (n *Network) Wait(ctx context.Context, r *http.Request, place string) (time.Duration, error) {
	caller := CallerPlace(r)
	d := n.Delay(caller, place)
	if d <= 0 {
		return 0, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	n.log.Debug("emulated network round trip", "from", caller, "to", place, "rtt", d, "emulated", true)
	return d, nil
}
