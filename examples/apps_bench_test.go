package examples_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/fusionize/fusionize/host"
)

// BenchmarkLoadIoTWarmCache loads all ten IoT modules into a new host from a
// warm compilation cache: compile (from cache) and instantiate one warm
// instance of each, as a restarted host does.
//
//	go test ./examples/ -run '^$' -bench LoadIoT -benchmem
func BenchmarkLoadIoTWarmCache(b *testing.B) {
	app := buildAppB(b, "iot")
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	warm, err := host.New(ctx, host.Config{CacheDir: cacheDir, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := warm.LoadApp(ctx, app, nil, nil); err != nil {
		b.Fatal(err)
	}
	_ = warm.Close(ctx)
	b.ReportAllocs()
	for b.Loop() {
		h, err := host.New(ctx, host.Config{CacheDir: cacheDir, Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		if err := h.LoadApp(ctx, app, nil, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = h.Close(ctx)
		b.StartTimer()
	}
}
