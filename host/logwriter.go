package host

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"sync"
)

// logWriter turns a guest's stdout and stderr into log lines attributed to
// its task.
type logWriter struct {
	mu   sync.Mutex
	log  *slog.Logger
	task string
	buf  []byte
}

func newLogWriter(l *slog.Logger, task string) *logWriter {
	return &logWriter{log: l, task: task}
}

const maxLogLine = 4096

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > maxLogLine {
				w.emit(w.buf)
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func (w *logWriter) emit(line []byte) {
	if len(line) > maxLogLine {
		line = line[:maxLogLine]
	}
	w.log.Info(string(line), "task", w.task, "stream", "stdio")
}

// cryptoRand feeds WASI random_get from crypto/rand.
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }
