package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
	"google.golang.org/grpc"
)

var quiet = slog.New(slog.DiscardHandler)

// testSpan returns a valid span whose ID is i.
func testSpan(i int) span.Span {
	return span.Span{
		TraceID:  fmt.Sprintf("trace-%d", i),
		ID:       uint64(i),
		Task:     "A",
		Start:    time.Unix(1_700_000_000, 0).Add(time.Duration(i) * time.Millisecond),
		Duration: time.Millisecond,
		MemoryMB: 128,
	}
}

// TestReporterWhileTheControlPlaneIsAway reports spans through a real
// control-plane client while nothing listens at its address, then brings
// the control plane back at that address and flushes again.
func TestReporterWhileTheControlPlaneIsAway(t *testing.T) {
	const (
		limit    = 100
		batch    = 50
		recorded = 10_000
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A first start creates the token in dir and picks a free port; the
	// control plane then goes away, freeing the port.
	dir := t.TempDir()
	cp, err := server.New(server.Options{DataDir: dir, Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	addr, token := cp.Addr(), cp.Token()
	if err := cp.Close(); err != nil {
		t.Fatal(err)
	}

	client, err := client.Dial(ctx, addr, token) // lazy: nothing is dialed yet
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	r := NewReporter("h1", client, limit, batch, time.Hour, quiet)

	// Record never blocks: the buffer takes the first limit spans and
	// counts the rest as dropped.
	for i := range recorded {
		r.Record(testSpan(i))
	}
	want := ReporterStats{Buffered: limit, Dropped: recorded - limit}
	if st := r.Stats(); st != want {
		t.Fatalf("after recording %d spans: %+v, want %+v", recorded, st, want)
	}

	// A flush against the dead address fails, counts the failure and keeps
	// every buffered span.
	r.Flush(ctx)
	want.Failures = 1
	if st := r.Stats(); st != want {
		t.Fatalf("after a failed flush: %+v, want %+v", st, want)
	}

	// The control plane comes back on the same data dir (so with the same
	// token) and the same address.
	cp, err = server.New(server.Options{DataDir: dir, Addr: addr, HTTPAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	if cp.Token() != token {
		t.Fatal("the restarted control plane has a new token")
	}
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- cp.Serve(serveCtx) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	// The client's connection backs off after the failed dial; wait until
	// it is up again rather than guess how long that takes.
	if _, err := client.API().Status(ctx, &fusionizev1.StatusRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("control plane did not come back: %v", err)
	}

	r.Flush(ctx)
	want = ReporterStats{Buffered: 0, Sent: limit, Dropped: recorded - limit, Failures: 1}
	if st := r.Stats(); st != want {
		t.Fatalf("after the control plane came back: %+v, want %+v", st, want)
	}
	if n, err := cp.Store().SpanCount(); err != nil || n != limit {
		t.Fatalf("store holds %d spans (%v), want %d", n, err, limit)
	}
	status, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.Spans != limit {
		t.Fatalf("Status reports %d spans, want %d", status.Spans, limit)
	}

	// The spans kept are the first ones recorded, stored under the
	// reporting host's name.
	spans, err := client.Spans(ctx, 0, 2*limit)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, 0, len(spans))
	for _, s := range spans {
		if s.Host != "h1" || s.Task != "A" {
			t.Fatalf("stored span %+v", s)
		}
		ids = append(ids, int(s.ID))
	}
	slices.Sort(ids)
	for i, id := range ids {
		if id != i {
			t.Fatalf("stored span IDs %v, want 0..%d", ids, limit-1)
		}
	}
}
