// Package lambdatest serves a Lambda emulator on loopback for a test:
//
//	em, url := lambdatest.Start(t, lambda.Options{})
//	// point an aws-sdk-go-v2 lambda client (or adapters/aws) at url
//
// The emulator is closed, and every execution environment stopped, when the
// test ends.
package lambdatest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/fusionize/fusionize/emulators/lambda"
)

// Start serves an emulator with opts (a discarding logger unless one is
// given) and returns it with its base URL.
func Start(t testing.TB, opts lambda.Options) (*lambda.Emulator, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	em, err := lambda.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- em.Serve(ctx, l) }()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if err := em.Close(cctx); err != nil {
			t.Errorf("lambda emulator: close: %v", err)
		}
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("lambda emulator: %v", err)
		}
	})
	return em, "http://" + l.Addr().String()
}
