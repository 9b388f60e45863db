package loop

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/fuser/invoke"
)

// ClientEnv is the Env of a running control plane: it applies setups and
// records iterations over the control-plane API and drives requests at the
// active setup's hosts.
type ClientEnv struct {
	CP      *client.Client
	Invoker *invoke.Invoker
	Task    string // the entry task
	Input   []byte // the request body
	// Concurrency is the number of requests in flight; default 8.
	Concurrency int
	// Wait blocks until version v serves or failed to deploy. Default: poll
	// the control plane's active version for up to 3 minutes.
	Wait func(ctx context.Context, v int64) error
	// Timeout bounds one request; default 30 s.
	Timeout time.Duration

	// indexBase numbers this run's iterations after those the control
	// plane already holds (it refuses a duplicate index): a second loop
	// against the same control plane continues the history.
	indexBase   int
	indexBaseOK bool

	errMu    sync.Mutex
	firstErr error   // the first failed request's error of the last Drive
	timed    []timed // the last Drive's answered requests, as the client timed them
}

// timed is one answered request: the setup version that answered and how
// long the client waited for it.
type timed struct {
	version int64
	d       time.Duration
}

// Timer is an Env that timed its requests as its client saw them, from
// sending a request to reading its answer. That is the latency a user of
// the platform observes: it holds a cold start of the entry's execution
// environment, which the entry's span, starting once the environment is
// up, does not.
type Timer interface {
	// Latencies returns how long each request of the last Drive that
	// setup version v answered took, as the client timed it.
	Latencies(v int64) []time.Duration
}

var _ Timer = (*ClientEnv)(nil)

// Latencies implements Timer.
func (e *ClientEnv) Latencies(v int64) []time.Duration {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	var out []time.Duration
	for _, t := range e.timed {
		if t.version == v {
			out = append(out, t.d)
		}
	}
	return out
}

// Failer is an Env that can say why requests of its last window failed.
type Failer interface {
	// FirstFailure returns the first failed request's error of the last
	// Drive, nil when none failed.
	FirstFailure() error
}

var _ Failer = (*ClientEnv)(nil)

// FirstFailure implements Failer.
func (e *ClientEnv) FirstFailure() error {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.firstErr
}

var _ Env = (*ClientEnv)(nil)

// Apply implements Env.
func (e *ClientEnv) Apply(ctx context.Context, s *setup.Setup) (int64, error) {
	v, err := e.CP.ApplySetup(ctx, s)
	if err != nil {
		return 0, err
	}
	if e.Wait != nil {
		return v, e.Wait(ctx, v)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	return v, e.CP.WaitActive(wctx, v)
}

// Drive implements Env.
func (e *ClientEnv) Drive(ctx context.Context, n int, progress func(done, failed int)) (int, error) {
	conc := e.Concurrency
	if conc <= 0 {
		conc = 8
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var next, done, failed atomic.Int64
	var mu sync.Mutex
	e.errMu.Lock()
	e.firstErr, e.timed = nil, e.timed[:0]
	e.errMu.Unlock()
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if ctx.Err() != nil {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, timeout)
				began := time.Now()
				res, err := e.Invoker.Invoke(rctx, e.Task, e.Input)
				took := time.Since(began)
				cancel()
				e.errMu.Lock()
				switch {
				case err == nil:
					e.timed = append(e.timed, timed{version: res.Version, d: took})
				case failed.Add(1) == 1:
					e.firstErr = err
				}
				e.errMu.Unlock()
				d := done.Add(1)
				mu.Lock()
				progress(int(d), int(failed.Load()))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return int(failed.Load()), ctx.Err()
}

// Spans implements Env.
func (e *ClientEnv) Spans(ctx context.Context, v int64) ([]span.Span, error) {
	return e.CP.AllSpans(ctx, v)
}

// Record implements Env. The first call reads the recorded history and
// numbers this run's iterations after it.
func (e *ClientEnv) Record(ctx context.Context, it api.Iteration) error {
	if !e.indexBaseOK {
		its, err := e.CP.Iterations(ctx)
		if err != nil {
			return err
		}
		for _, old := range its {
			e.indexBase = max(e.indexBase, old.Index+1)
		}
		e.indexBaseOK = true
	}
	it.Index += e.indexBase
	return e.CP.RecordIteration(ctx, it)
}
