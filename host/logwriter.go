package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
)

// Bounds on what a guest logs.
const (
	// maxLogLine cuts longer lines (stdio and the log import alike).
	maxLogLine = 4096
	// DefaultMaxLogBytes is Config.MaxLogBytes's default: the log volume
	// one invocation may write, stdout, stderr and the log import together.
	DefaultMaxLogBytes = 256 << 10
)

// logWriter turns a guest's stdout and stderr, and its log import, into
// log lines attributed to its task and the trace of the invocation in
// progress. It bounds the volume of one invocation: past the budget lines
// are counted, not written, and end reports the count in one line. It also
// keeps the Go runtime's fatal error lines ("fatal error: out of memory"),
// which name the cause of the trap that follows them.
type logWriter struct {
	mu      sync.Mutex
	log     *slog.Logger
	task    string
	trace   string
	budget  int // bytes the invocation may still write
	limit   int
	dropped int // lines dropped in this invocation
	buf     []byte
	fatal   string // the first "fatal error: …" line of this invocation
	detail  string // the runtime's line before it ("runtime: out of memory: …")
	total   *atomic.Uint64
}

func newLogWriter(l *slog.Logger, task string, limit int, total *atomic.Uint64) *logWriter {
	if limit < 0 {
		limit = math.MaxInt
	}
	return &logWriter{log: l, task: task, limit: limit, budget: limit, total: total}
}

// begin starts the accounting of an invocation of task in trace (the
// task an instance of a fused module runs changes from one invocation to
// the next).
func (w *logWriter) begin(task, trace string) {
	w.mu.Lock()
	w.task = task
	w.trace, w.budget, w.dropped, w.fatal, w.detail = trace, w.limit, 0, "", ""
	w.mu.Unlock()
}

// end flushes a partial line, reports the lines the invocation dropped, if
// any, and detaches the writer from the trace.
func (w *logWriter) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(slog.LevelInfo, w.buf, "stdio")
		w.buf = w.buf[:0]
	}
	if w.dropped > 0 {
		w.log.Warn("task log over its limit: lines dropped", "task", w.task, "trace", w.trace, "dropped", w.dropped, "limit_bytes", w.limit)
	}
	w.trace, w.budget, w.dropped = "", w.limit, 0
}

// fatalError returns the Go runtime's fatal error of the invocation ("" for
// none) and the runtime's line that explains it.
func (w *logWriter) fatalError() (fatal, detail string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// A fatal error may still sit in the buffer without its newline.
	if w.fatal == "" && bytes.HasPrefix(w.buf, []byte("fatal error: ")) {
		return string(w.buf), w.detail
	}
	return w.fatal, w.detail
}

// Write takes the guest's stdout and stderr.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > maxLogLine {
				w.line(slog.LevelInfo, w.buf, "stdio")
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.line(slog.LevelInfo, w.buf[:i], "stdio")
		w.buf = w.buf[i+1:]
	}
}

// logLine writes a line of the log import.
func (w *logWriter) logLine(ctx context.Context, level slog.Level, b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.emit(ctx, level, b, "log")
}

// line notes the runtime's fatal errors and writes one stdio line.
func (w *logWriter) line(level slog.Level, b []byte, stream string) {
	if w.fatal == "" {
		switch {
		case bytes.HasPrefix(b, []byte("fatal error: ")):
			w.fatal = strings.TrimSpace(string(b))
		case bytes.HasPrefix(b, []byte("runtime: ")):
			w.detail = strings.TrimSpace(string(b))
		}
	}
	w.emit(context.Background(), level, b, stream)
}

func (w *logWriter) emit(ctx context.Context, level slog.Level, b []byte, stream string) {
	if len(b) > maxLogLine {
		b = b[:maxLogLine]
	}
	if cost := len(b) + 1; cost > w.budget {
		w.budget = 0
		w.dropped++
		if w.total != nil {
			w.total.Add(1)
		}
		return
	}
	w.budget -= len(b) + 1
	w.log.Log(ctx, level, string(b), "task", w.task, "trace", w.trace, "stream", stream)
}

// cryptoRand feeds WASI random_get from crypto/rand.
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }
