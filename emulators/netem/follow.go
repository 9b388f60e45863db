package netem

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/fusionize/fusionize/api/rtt"
)

// Follow reads the round-trip table at path after interval, then every
// interval, and, when the file's modification time or size changed and it
// parses, hands the new
// table to every set (an emulator's SetRTT): editing the file changes the
// emulated network of running emulators, for requests that arrive after.
// A file that does not parse, or went missing, is logged and the previous
// table kept. It returns when ctx ends.
func Follow(ctx context.Context, path string, interval time.Duration, log *slog.Logger, set ...func(rtt.Table)) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stamp := func() (time.Time, int64, error) {
		fi, err := os.Stat(path)
		if err != nil {
			return time.Time{}, 0, err
		}
		return fi.ModTime(), fi.Size(), nil
	}
	var mod time.Time // zero: the first tick applies the file as it is then
	var size int64 = -1
	first := true
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m, s, err := stamp()
		if err != nil {
			if size != -2 {
				log.Warn("emulated network: round-trip table unreadable; keeping the previous one", "file", path, "err", err)
				mod, size = time.Time{}, -2 // warn once until it is back
			}
			continue
		}
		if m.Equal(mod) && s == size {
			continue
		}
		mod, size = m, s
		table, err := Load(path)
		if err != nil {
			log.Warn("emulated network: keeping the previous round-trip table", "err", err)
			continue
		}
		for _, f := range set {
			f(table)
		}
		if first {
			log.Debug("emulated network: following the round-trip table", "file", path)
		} else {
			log.Info("emulated network: round-trip table changed", "file", path, "table", table.String(), "emulated", true)
		}
		first = false
	}
}
