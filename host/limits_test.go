package host_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/host"
)

func TestInstanceMemoryIsCappedByTheGroupsMemorySize(t *testing.T) {
	cases := []struct {
		name      string
		cfg       host.Config
		wantPages uint32
		grow      bool // let the guest grow to the cap (slow for large caps)
	}{
		{"8 MB group", host.Config{MemoryMB: 8}, 8 * 16, true},
		{"64 MB group, a larger cap is lowered", host.Config{MemoryMB: 64, MemoryLimitPages: 65536}, 64 * 16, true},
		{"a smaller cap than the group's is kept", host.Config{MemoryMB: 128, MemoryLimitPages: 256}, 256, true},
		{"1024 MB group, over the old fixed cap", host.Config{MemoryMB: 1024}, 1024 * 16, false},
		{"memory size unknown", host.Config{}, 4096, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, c.cfg, map[string]string{"growsize": wat("growsize"), "echo": wat("echo")})
			if got := h.MemoryLimit(); got != int64(c.wantPages)<<16 {
				t.Errorf("MemoryLimit %d, want %d", got, int64(c.wantPages)<<16)
			}
			if !c.grow {
				return
			}
			out, err := h.Invoke(context.Background(), "growsize", nil)
			if err != nil {
				t.Fatal(err)
			}
			pages := binary.LittleEndian.Uint32(out)
			if pages != c.wantPages {
				t.Fatalf("the guest grew to %d pages, want the cap of %d", pages, c.wantPages)
			}
			assertServing(t, h)
		})
	}
}

func TestGoOutOfMemoryIsReportedAsOutOfMemory(t *testing.T) {
	h := newHost(t, host.Config{Name: "h1", MemoryMB: 32}, map[string]string{"ghog": goGuest(t, "ghog"), "echo": wat("echo")})
	for range 2 { // the second time on a fresh instance
		_, err := h.Invoke(context.Background(), "ghog", nil)
		if !errors.Is(err, host.ErrFailed) {
			t.Fatalf("got %v, want ErrFailed", err)
		}
		for _, want := range []string{`task "ghog" on host h1: out of memory`, "of its 32 MiB memory cap", "cannot allocate 1048576-byte block"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		assertServing(t, h)
	}
}

func TestErrorOverThePayloadLimitIsTruncated(t *testing.T) {
	h := newHost(t, host.Config{Name: "h1", MaxPayload: 64 << 10}, map[string]string{"gbig": goGuest(t, "gbig"), "echo": wat("echo")})
	ctx := context.Background()
	_, err := h.Invoke(ctx, "gbig", []byte("error 100000"))
	if !errors.Is(err, host.ErrFailed) {
		t.Fatalf("got %v, want ErrFailed", err)
	}
	msg := err.Error()
	for _, want := range []string{`task "gbig" on host h1: first words xxx`, "error message of 100000 bytes truncated to 65536", "payload limit of 65536 bytes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q: %.200s…%s", want, msg, msg[max(len(msg)-200, 0):])
		}
	}
	if strings.Contains(msg, "last words") {
		t.Errorf("the message was not truncated")
	}
	// An error within the limit arrives whole; an output over it is TOO_LARGE.
	if _, err := h.Invoke(ctx, "gbig", []byte("error 1000")); !errors.Is(err, host.ErrFailed) || !strings.Contains(err.Error(), "last words") || strings.Contains(err.Error(), "truncated") {
		t.Errorf("small error: %v", err)
	}
	if _, err := h.Invoke(ctx, "gbig", []byte("output 100000")); !errors.Is(err, host.ErrTooLarge) || !strings.Contains(err.Error(), "output of 100000 bytes exceeds the payload limit of 65536 bytes") {
		t.Errorf("large output: %v", err)
	}
	assertServing(t, h)
}

// logLine is one line of the JSON log handler.
type logLine struct {
	Level   string
	Msg     string
	Task    string
	Trace   string
	Stream  string
	Dropped int
}

func TestGuestLogsCarryTheTraceAndAreBoundedPerInvocation(t *testing.T) {
	var buf syncBuffer
	lg := slog.New(slog.NewJSONHandler(&buf, nil))
	const limit = 4096
	h := newHost(t, host.Config{Name: "h1", Logger: lg, MaxLogBytes: limit}, map[string]string{"glog": goGuest(t, "glog"), "echo": wat("echo")})
	ctx := context.Background()
	read := func() []logLine {
		var lines []logLine
		for _, l := range strings.Split(strings.TrimSpace(buf.reset()), "\n") {
			if l == "" {
				continue
			}
			var ll logLine
			if err := json.Unmarshal([]byte(l), &ll); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			lines = append(lines, ll)
		}
		return lines
	}
	read() // what loading logged
	for _, tc := range []struct {
		trace   string
		n       int
		dropped bool
	}{
		{"4bf92f3577b34da6a3ce929d0e0e4736", 1000, true},
		{"0af7651916cd43dd8448eb211c80319c", 3, false},
	} {
		out, err := h.Serve(ctx, host.Call{Task: "glog", Input: []byte(strconv.Itoa(tc.n)), TraceID: tc.trace})
		if err != nil || string(out) != "ok" {
			t.Fatalf("%s: %q, %v", tc.trace, out, err)
		}
		var guestBytes, guestLines, warnings int
		for _, l := range read() {
			if l.Task != "glog" || l.Trace != tc.trace {
				t.Errorf("%s: line without its task and trace: %+v", tc.trace, l)
			}
			switch {
			case l.Stream == "stdio" || l.Stream == "log":
				guestBytes += len(l.Msg) + 1
				guestLines++
			case l.Dropped > 0:
				warnings++
				if want := 2*tc.n + 1 - guestLines; l.Dropped != want {
					t.Errorf("%s: %d lines reported dropped, want %d", tc.trace, l.Dropped, want)
				}
			}
		}
		if guestBytes > limit {
			t.Errorf("%s: %d bytes of guest lines logged, over the limit of %d", tc.trace, guestBytes, limit)
		}
		if tc.dropped && warnings != 1 || !tc.dropped && (warnings != 0 || guestLines != 2*tc.n+1) {
			t.Errorf("%s: %d guest lines, %d warnings", tc.trace, guestLines, warnings)
		}
	}
	if st := h.Stats(); st.LogLinesDropped == 0 || st.LogLinesDropped > 2000 {
		t.Errorf("stats: %d log lines dropped", st.LogLinesDropped)
	}
	assertServing(t, h)
}

// syncBuffer is a bytes.Buffer safe for the host's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) reset() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

func TestLoopingSyncCalleeIsBlamedNotItsCaller(t *testing.T) {
	// caller calls "echo", which here is the endless loop.
	h := newHost(t, host.Config{Name: "h1"}, map[string]string{"caller": wat("caller"), "echo": wat("loop")})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := h.Invoke(ctx, "caller", []byte("x"))
	var he *host.Error
	if !errors.As(err, &he) || he.Code != host.CodeDeadline || he.Task != "echo" {
		t.Fatalf("got %v, want the deadline error of task echo", err)
	}
	if !strings.Contains(err.Error(), `task "echo" on host h1: stopped by its deadline (in a sync call from task "caller")`) {
		t.Errorf("error %q does not blame the callee", err)
	}
}
