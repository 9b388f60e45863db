package gcf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/fusionize/fusionize/emulators/sandbox"
)

var (
	// errRetired: the revision stopped taking requests (an update replaced it).
	errRetired = errors.New("revision retired")
	// errNoInstance: max_instance_count are busy past the pending timeout.
	errNoInstance = errors.New("no available instance")
)

// stopTimeout bounds the SIGTERM grace of a stopped instance.
const stopTimeout = 5 * time.Second

// pool holds the instances of one revision and routes requests to them as
// Cloud Run does: up to concurrency requests per instance, up to
// maxInstances instances, idle ones reused until the keep-alive reclaims them.
type pool struct {
	e   *Emulator
	rev *revision

	mu        sync.Mutex
	instances []*instance
	starting  int
	seq       int
	changed   chan struct{} // closed and replaced on every change
	retired   bool          // no new requests (draining or closed)
	closed    bool
	wg        sync.WaitGroup // starts and stops in flight
}

// instance is one execution environment: one process of the revision's binary.
type instance struct {
	id   string
	env  *sandbox.Env
	addr string
	tmp  string        // its TMPDIR
	init time.Duration // environment time from process start to listening
	// initStretch is how much longer than emulated its start took on this
	// machine (see Request.Stretch).
	initStretch time.Duration
	conns       conns // the front's kept-alive connections to it
	inflight    int
	lastUsed    time.Time
	gone        bool // removed from the pool
}

func (e *Emulator) newPool(rev *revision) (*pool, error) {
	p := &pool{e: e, rev: rev, changed: make(chan struct{})}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	e.pools[p] = struct{}{}
	return p, nil
}

// notify wakes the requests waiting for an instance; p.mu must be held.
func (p *pool) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// acquire returns an instance with a free request slot, starting one when
// none is free and the revision is below max_instance_count.
func (p *pool) acquire(ctx context.Context) (*instance, bool, error) {
	cfg := p.rev.config
	timer := time.NewTimer(p.e.opts.PendingTimeout)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if p.retired {
			p.mu.Unlock()
			return nil, false, errRetired
		}
		if !p.e.opts.ForceColdStart {
			for _, in := range p.instances {
				if in.inflight < cfg.concurrency {
					in.inflight++
					p.mu.Unlock()
					return in, false, nil
				}
			}
		}
		if len(p.instances)+p.starting < cfg.maxInstances {
			p.starting++
			p.seq++
			seq := p.seq
			p.wg.Add(1)
			p.mu.Unlock()
			in, err := p.start(ctx, seq)
			p.mu.Lock()
			p.starting--
			if err == nil && p.retired {
				p.stopLocked(in) // before Done: close may be waiting
				err = errRetired
			}
			p.wg.Done()
			if err != nil {
				p.notify()
				p.mu.Unlock()
				return nil, false, err
			}
			in.inflight = 1
			p.instances = append(p.instances, in)
			p.mu.Unlock()
			return in, true, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-timer.C:
			return nil, false, errNoInstance
		}
	}
}

// release ends a request on in; discard removes the instance (it died,
// timed out or the emulator starts one per request).
func (p *pool) release(in *instance, discard bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in.inflight--
	in.lastUsed = time.Now()
	if discard || p.e.opts.ForceColdStart || p.retired && in.inflight == 0 {
		p.removeLocked(in)
	}
	p.notify()
}

// removeLocked takes in out of the pool and stops it in the background.
func (p *pool) removeLocked(in *instance) {
	if in.gone {
		return
	}
	in.gone = true
	for i, x := range p.instances {
		if x == in {
			p.instances = append(p.instances[:i], p.instances[i+1:]...)
			break
		}
	}
	p.stopLocked(in)
}

func (p *pool) stopLocked(in *instance) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := in.env.Stop(ctx); err != nil {
			p.e.log.Warn("gcf: stop instance", "revision", p.rev.name, "instance", in.id, "err", err)
		}
		in.conns.close()
		if err := os.RemoveAll(in.tmp); err != nil {
			p.e.log.Warn("gcf: remove instance files", "instance", in.id, "err", err)
		}
	}()
}

// start runs a new instance of the revision and waits until it listens on
// its PORT; that is the real part of a cold start.
func (p *pool) start(ctx context.Context, seq int) (*instance, error) {
	began := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.e.ctx, cancel)
	defer stop()
	rev, cfg := p.rev, p.rev.config
	id := fmt.Sprintf("%s-%s-%d", rev.name, p.e.id, seq)
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("function %s revision %s instance %s: %w", rev.function, rev.name, id, err)
	}
	// Each instance has a file system of its own on Cloud Run: here, its own
	// temporary directory, removed when it stops.
	tmp := filepath.Join(p.e.opts.Dir, "tmp", id)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("function %s revision %s instance %s: %w", rev.function, rev.name, id, err)
	}
	env := append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + tmp,
		"PORT=" + strconv.Itoa(port), "K_SERVICE=" + rev.function.ID, "K_REVISION=" + rev.name,
		"K_CONFIGURATION=" + rev.function.ID, "FUNCTION_TARGET=" + cfg.entryPoint,
	}, cfg.env...)
	logs := &lineLogger{log: p.e.log.With("function", rev.function.String(), "revision", rev.name, "instance", id)}
	senv, err := sandbox.Start(ctx, sandbox.Spec{
		Name: "gcf-" + id, Path: rev.build.binary, Env: env, Dir: rev.build.workspace,
		Limits: sandbox.Limits{VCPU: cfg.vcpu, MemoryMB: cfg.memoryMiB()},
		Stdout: logs, Stderr: logs,
	})
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("function %s revision %s instance %s: %w", rev.function, rev.name, id, err)
	}
	mark := senv.Mark()
	in := &instance{id: id, env: senv, addr: "127.0.0.1:" + strconv.Itoa(port), tmp: tmp}
	if err := waitListening(ctx, senv, in.addr); err != nil {
		sctx, c := context.WithTimeout(context.Background(), stopTimeout)
		defer c()
		_ = senv.Stop(sctx)
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("function %s revision %s instance %s: the container failed to start and listen on PORT=%d: %w\n%s",
			rev.function, rev.name, id, port, err, logs.tail())
	}
	in.init = senv.Since(mark)
	if d := p.e.opts.SandboxDelay; d > 0 {
		select {
		case <-time.After(d): // emulated: the platform's own sandbox start
		case <-ctx.Done():
			sctx, c := context.WithTimeout(context.Background(), stopTimeout)
			defer c()
			_ = senv.Stop(sctx)
			_ = os.RemoveAll(tmp)
			return nil, ctx.Err()
		}
	}
	in.initStretch = max(time.Since(began)-in.init-p.e.opts.SandboxDelay, 0)
	return in, nil
}

// waitListening polls addr until it accepts a connection or the process ends.
func waitListening(ctx context.Context, env *sandbox.Env, addr string) error {
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-env.Done():
			return fmt.Errorf("the process exited: %v", env.Err())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// probe starts and stops one instance, as Cloud Run's startup check does
// before a revision takes traffic.
func (p *pool) probe(ctx context.Context) error {
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.mu.Unlock()
	in, err := p.start(ctx, seq)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err = in.env.Stop(sctx)
	return errors.Join(err, os.RemoveAll(in.tmp))
}

// reapIdle stops instances idle for longer than keepAlive.
func (p *pool) reapIdle(now time.Time, keepAlive time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, in := range append([]*instance(nil), p.instances...) {
		if in.inflight == 0 && now.Sub(in.lastUsed) >= keepAlive {
			p.removeLocked(in)
		}
	}
}

// drain retires the pool: new requests go elsewhere, in-flight ones finish,
// then every instance stops.
func (p *pool) drain(ctx context.Context) {
	p.mu.Lock()
	p.retired = true
	for _, in := range append([]*instance(nil), p.instances...) {
		if in.inflight == 0 {
			p.removeLocked(in)
		}
	}
	p.notify()
	for len(p.instances) > 0 {
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		p.mu.Lock()
		if ctx.Err() != nil {
			break
		}
	}
	p.mu.Unlock()
	_ = p.close(context.Background())
}

// close stops every instance, in flight or not, and waits for them.
func (p *pool) close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed, p.retired = true, true
	for _, in := range append([]*instance(nil), p.instances...) {
		p.removeLocked(in)
	}
	p.notify()
	p.mu.Unlock()
	p.wg.Wait()
	p.e.mu.Lock()
	delete(p.e.pools, p)
	p.e.mu.Unlock()
	return nil
}

// count reports the live instances (for tests and the emulator's endpoint).
func (p *pool) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.instances)
}

// lineLogger logs an instance's output line by line and keeps its tail for
// start failures.
type lineLogger struct {
	log  interface{ Info(string, ...any) }
	mu   sync.Mutex
	buf  []byte
	last []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.log.Info("gcf: instance", "line", string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	l.last = append(l.last, b...)
	if len(l.last) > 2*maxLogBytes {
		l.last = l.last[len(l.last)-maxLogBytes:]
	}
	return len(b), nil
}

func (l *lineLogger) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return trimLog(string(l.last), maxLogBytes)
}
