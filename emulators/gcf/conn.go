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

// errLongAgo is a deadline in the past: it wakes a blocked read or write at once.
var errLongAgo = time.Unix(1, 0)

// roundTrip sends req to the instance at addr and reads the whole response, up to limit
// bytes of body (a longer body comes back as limit+1 bytes). ctx bounds the exchange;
// when it ends the connection is closed.
func (cs *conns) roundTrip(ctx context.Context, addr string, req *http.Request, limit int64) (*http.Response, []byte, error) {
	for attempt := 0; ; attempt++ {
		ic, reused, err := cs.get(ctx, addr)
		if err != nil {
			return nil, nil, err
		}
		resp, body, err := ic.exchange(ctx, req, limit)
		if err == nil && !resp.Close {
			cs.put(ic)
			return resp, body, nil
		}
		_ = ic.c.Close()
		// The instance closed an idle connection before reading from it: nothing was
		// served, send the request again on a new one (as http.Transport does).
		if reused && attempt == 0 && errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && ctx.Err() == nil {
			continue
		}
		return resp, body, err
	}
}

func (cs *conns) get(ctx context.Context, addr string) (*instanceConn, bool, error) {
	cs.mu.Lock()
	if n := len(cs.idle); n > 0 {
		ic := cs.idle[n-1]
		cs.idle = cs.idle[:n-1]
		cs.mu.Unlock()
		return ic, true, nil
	}
	cs.mu.Unlock()
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

// exchange writes req and reads its response on ic.
func (ic *instanceConn) exchange(ctx context.Context, req *http.Request, limit int64) (*http.Response, []byte, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = ic.c.SetDeadline(d)
	} else {
		_ = ic.c.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = ic.c.SetDeadline(errLongAgo) })
	defer stop()
	wrap := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return err
	}
	if err := req.Write(ic.w); err != nil {
		return nil, nil, wrap(err)
	}
	if err := ic.w.Flush(); err != nil {
		return nil, nil, wrap(err)
	}
	resp, err := http.ReadResponse(ic.r, req)
	if err != nil {
		return nil, nil, wrap(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(len(body)) > limit {
		resp.Close = true // the rest of the body is still on the connection
	}
	_ = resp.Body.Close()
	if err != nil {
		return nil, nil, wrap(err)
	}
	return resp, body, nil
}
