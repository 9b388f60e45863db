package gcf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// instanceConn is one kept-alive HTTP/1.1 connection from the front to an instance. The
// front writes a request and reads its response on the calling goroutine: an
// http.Transport hands each request to a writer goroutine and the response back from a
// reader goroutine, two switches between goroutines per request that cost as much on this
// machine as the instance's own work for a small function (see BENCHMARKS.md).
type instanceConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// conns are an instance's idle connections; safe for concurrent use.
type conns struct {
	mu     sync.Mutex
	idle   []*instanceConn
	closed bool
}

// dialTimeout bounds connecting to an instance that listens on loopback.
const dialTimeout = 5 * time.Second

// longAgo is a deadline in the past: it wakes a blocked read or write at once.
var longAgo = time.Unix(1, 0)

// roundTrip sends req to the instance at addr and reads the whole response, up to limit
// bytes of body (a longer body comes back as limit+1 bytes). ctx bounds the exchange;
// when it ends the connection is closed and the error wraps ctx.Err().
func (cs *conns) roundTrip(ctx context.Context, addr string, req *http.Request, limit int64) (*http.Response, []byte, error) {
	for attempt := 0; ; attempt++ {
		ic, reused, err := cs.get(ctx, addr)
		if err != nil {
			return nil, nil, err
		}
		resp, body, written, err := ic.exchange(ctx, req, limit)
		if err == nil && !resp.Close {
			cs.put(ic)
			return resp, body, nil
		}
		_ = ic.c.Close()
		// The instance had closed the idle connection: send the request again on a new
		// one where http.Transport would, when nothing was written, or when the request
		// is idempotent and no byte of an answer came back.
		closedIdle := !written || idempotent(req) && errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF)
		if reused && attempt == 0 && closedIdle && ctx.Err() == nil {
			continue
		}
		return resp, body, err
	}
}

func (cs *conns) get(ctx context.Context, addr string) (*instanceConn, bool, error) {
	for {
		cs.mu.Lock()
		n := len(cs.idle)
		if n == 0 {
			cs.mu.Unlock()
			break
		}
		ic := cs.idle[n-1]
		cs.idle = cs.idle[:n-1]
		cs.mu.Unlock()
		if ic.open() {
			return ic, true, nil
		}
		_ = ic.c.Close()
	}
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return &instanceConn{c: c, r: bufio.NewReaderSize(c, 16<<10), w: bufio.NewWriterSize(c, 16<<10)}, false, nil
}

func (cs *conns) put(ic *instanceConn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		_ = ic.c.Close()
		return
	}
	cs.idle = append(cs.idle, ic)
}

// close closes the idle connections and every one put back later.
func (cs *conns) close() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closed = true
	for _, ic := range cs.idle {
		_ = ic.c.Close()
	}
	cs.idle = nil
}

// open tells whether the instance has kept the idle connection open: a peek that does
// not wait finds no end of stream (and no stray bytes) on it. http.Transport learns the
// same from the reader goroutine it keeps on every idle connection.
func (ic *instanceConn) open() bool {
	if ic.r.Buffered() > 0 {
		return false // bytes no request asked for
	}
	raw, err := ic.c.(syscall.Conn).SyscallConn()
	if err != nil {
		return false
	}
	var b [1]byte
	alive := false
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && rerr == syscall.EAGAIN // nothing to read, not closed
		return true
	})
	return err == nil && alive
}

// exchange writes req and reads its response on ic; written tells whether the request
// went out whole.
func (ic *instanceConn) exchange(ctx context.Context, req *http.Request, limit int64) (resp *http.Response, body []byte, written bool, err error) {
	// ctx's end, not a deadline of the connection's own, interrupts the exchange: the
	// caller tells a timeout from a failure by ctx.Err(), which is set by then.
	_ = ic.c.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = ic.c.SetDeadline(longAgo) })
	defer stop()
	wrap := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return err
	}
	if err := req.Write(ic.w); err != nil {
		return nil, nil, false, wrap(err)
	}
	if err := ic.w.Flush(); err != nil {
		return nil, nil, false, wrap(err)
	}
	resp, err = http.ReadResponse(ic.r, req)
	if err != nil {
		return nil, nil, true, wrap(err)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(len(body)) > limit {
		resp.Close = true // the rest of the body is still on the connection
	}
	_ = resp.Body.Close()
	if err != nil {
		return nil, nil, true, wrap(err)
	}
	return resp, body, true, nil
}

// idempotent tells whether req may be sent twice, by http.Transport's rule.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}
