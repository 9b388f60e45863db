package runtime

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/fusionize/fusionize/api/span"
)

// SpanSink receives batches of spans: the control plane's ReportSpans.
type SpanSink interface {
	ReportSpans(ctx context.Context, host string, spans []span.Span) (accepted, rejected int, err error)
}

// Reporter batches spans to a SpanSink. Record never blocks: spans wait in
// a bounded buffer, and when it is full (the sink is away or slow) new spans
// are dropped and counted.
type Reporter struct {
	host     string
	sink     SpanSink
	buf      *span.Buffer
	batch    int
	interval time.Duration
	log      *slog.Logger

	sent     atomic.Uint64
	rejected atomic.Uint64
	failures atomic.Uint64
}

// NewReporter returns a Reporter holding at most limit spans, sending at
// most batch spans per call every interval.
func NewReporter(host string, sink SpanSink, limit, batch int, interval time.Duration, log *slog.Logger) *Reporter {
	return &Reporter{host: host, sink: sink, buf: span.NewBuffer(limit), batch: batch, interval: interval, log: log}
}

// Record implements span.Recorder.
func (r *Reporter) Record(s span.Span) { r.buf.Record(s) }

// Run flushes every interval until ctx ends, then flushes once more with
// the grace period of final.
func (r *Reporter) Run(ctx context.Context, final time.Duration) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), final)
			r.Flush(fctx)
			cancel()
			return
		case <-t.C:
			r.Flush(ctx)
		}
	}
}

// Flush sends the buffered spans. Spans the sink could not take go back
// into the buffer, as far as it has room.
func (r *Reporter) Flush(ctx context.Context) {
	spans := r.buf.Drain()
	for len(spans) > 0 {
		n := min(len(spans), r.batch)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, rejected, err := r.sink.ReportSpans(cctx, r.host, spans[:n])
		cancel()
		if err != nil {
			r.failures.Add(1)
			r.log.Debug("span report failed; keeping spans", "host", r.host, "spans", len(spans), "err", err)
			for _, s := range spans {
				r.buf.Record(s)
			}
			return
		}
		r.sent.Add(uint64(n - rejected))
		r.rejected.Add(uint64(rejected))
		spans = spans[n:]
	}
}

// ReporterStats counts what a Reporter did.
type ReporterStats struct {
	Buffered int    // spans waiting
	Sent     uint64 // spans the sink accepted
	Rejected uint64 // spans the sink rejected as invalid
	Dropped  uint64 // spans dropped because the buffer was full
	Failures uint64 // failed sends
}

// Stats returns the Reporter's counters.
func (r *Reporter) Stats() ReporterStats {
	return ReporterStats{
		Buffered: r.buf.Len(), Sent: r.sent.Load(), Rejected: r.rejected.Load(),
		Dropped: r.buf.Dropped(), Failures: r.failures.Load(),
	}
}
