package lambda

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/emulators/netem"
)

// Options configure an [Emulator]. The zero value is usable.
type Options struct {
	// Dir holds the unzipped deployment packages; empty means a temporary directory
	// removed by Close.
	Dir string
	// Region and AccountID appear in ARNs and the environment (default us-east-1 and
	// 123456789012).
	Region, AccountID string
	// KeepAlive is how long an idle environment is kept for reuse (default 5 minutes).
	KeepAlive time.Duration
	// SandboxDelay is an emulated delay added to every cold start before the process
	// starts, standing for the platform's own sandbox creation (default 0; Lambda's is
	// typically of the order of 100 ms, an emulated figure). It is not part of the reported
	// Init Duration, as on Lambda.
	SandboxDelay time.Duration
	// ForceColdStart gives every invocation a new environment.
	ForceColdStart bool
	// ConcurrencyLimit is the most environments one function may have busy at once
	// (default 1000, Lambda's default account limit); reserved concurrency lowers it.
	ConcurrencyLimit int
	// RetryDelays are the waits before retrying a failed Event invocation, one per retry
	// (nil means Lambda's two retries after 1 and 2 minutes; an empty slice, none).
	RetryDelays []time.Duration
	// RTT is the table of round trips between places (nil: rtt.Default()). An invoke
	// whose caller names its place (rtt.CallerPlaceHeader) waits the round trip between
	// that place and "aws/Region" before it is dispatched: an emulated figure, in
	// Report.NetworkRTT, never in the billed duration (package emulators/netem).
	RTT *rtt.Table
	// Logger receives the emulator's own events (nil discards them).
	Logger *slog.Logger
}

// Emulator is an emulated Lambda service: the control-plane and invoke API over HTTP for the
// real SDK client, execution environments as sandboxed processes.
type Emulator struct {
	opts   Options
	id     uint64
	tmpDir string
	log    *slog.Logger
	net    *netem.Network

	mu          sync.Mutex
	cond        *sync.Cond // signals async queues and the end of async events
	functions   map[string]*function
	snapshotSeq uint64
	functionSeq uint64
	envSeq      uint64
	reports     []Report
	deadLetters []DeadLetter
	logs        map[string][]byte // function → the last maxFunctionLog bytes of its log
	closing     bool              // no new requests
	aborting    bool              // Close's context ended: events left become dead letters
	pending     int               // accepted async events not yet done or dead-lettered
	gaveUp      bool              // Close stopped waiting for pending
	retries     map[*event]*time.Timer

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
	servers   sync.WaitGroup
}

const maxFunctionLog = 1 << 20

var emulatorSeq atomic.Uint64

// New makes an emulator; nothing runs until it serves requests.
func New(opts Options) (*Emulator, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 5 * time.Minute
	}
	if opts.ConcurrencyLimit <= 0 {
		opts.ConcurrencyLimit = 1000
	}
	if opts.RetryDelays == nil {
		opts.RetryDelays = []time.Duration{time.Minute, 2 * time.Minute}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	em := &Emulator{opts: opts, id: emulatorSeq.Add(1), log: opts.Logger, functions: map[string]*function{},
		logs: map[string][]byte{}, retries: map[*event]*time.Timer{}, closed: make(chan struct{})}
	em.cond = sync.NewCond(&em.mu)
	em.net = netem.Of(opts.RTT, opts.Logger)
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "lambda-emulator-")
		if err != nil {
			return nil, fmt.Errorf("lambda emulator: %w", err)
		}
		em.tmpDir, em.opts.Dir = d, d
	} else if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lambda emulator: %w", err)
	}
	return em, nil
}

// Serve answers the Lambda API on l until ctx ends or the emulator is closed.
func (em *Emulator) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: em.Handler(), ReadHeaderTimeout: 30 * time.Second}
	em.servers.Add(1)
	defer em.servers.Done()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	case <-em.closed:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-errc
	return nil
}

// Reports lists the REPORT records of a function's invocations, oldest first ("" lists
// every function's).
func (em *Emulator) Reports(function string) []Report {
	em.mu.Lock()
	defer em.mu.Unlock()
	var out []Report
	for _, r := range em.reports {
		if function == "" || r.Function == function {
			out = append(out, r)
		}
	}
	return out
}

// Logs returns the tail (up to 1 MiB) of a function's log: its processes' output and the
// START, END and REPORT lines.
func (em *Emulator) Logs(function string) string {
	em.mu.Lock()
	defer em.mu.Unlock()
	return string(em.logs[function])
}

func (em *Emulator) addReport(r Report) {
	em.mu.Lock()
	em.reports = append(em.reports, r)
	em.mu.Unlock()
	em.log.Debug("lambda: invocation", "function", r.Function, "version", r.Version, "request", r.RequestID, "report", r.Line)
}

func (em *Emulator) appendFunctionLog(fn string, b []byte) {
	em.mu.Lock()
	l := append(em.logs[fn], b...)
	if len(l) > maxFunctionLog {
		l = append([]byte(nil), l[len(l)-maxFunctionLog:]...)
	}
	em.logs[fn] = l
	em.mu.Unlock()
}

// pick chooses between an alias's versions.
func pick() float64 { return rand.Float64() }

// Close ends the emulator: it takes no new requests, lets accepted Event invocations run
// until ctx ends (those left become dead letters, with the reason), stops every environment
// and removes its temporary directory. Close is idempotent.
func (em *Emulator) Close(ctx context.Context) error {
	em.closeOnce.Do(func() { em.closeErr = em.close(ctx) })
	return em.closeErr
}

func (em *Emulator) close(ctx context.Context) error {
	em.mu.Lock()
	em.closing = true
	// Retries waiting for their delay would hold Close for minutes: they end now.
	for ev, t := range em.retries {
		t.Stop()
		em.deadLetterLocked(ev, "the emulator closed before retry "+fmt.Sprint(ev.attempts)+" was due")
	}
	clear(em.retries)
	em.cond.Broadcast()
	em.mu.Unlock()
	close(em.closed)

	drained := make(chan struct{})
	go func() {
		em.mu.Lock()
		for em.pending > 0 && !em.aborting {
			em.cond.Wait()
		}
		em.mu.Unlock()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
	}
	em.mu.Lock()
	em.aborting = true
	for _, f := range em.functions {
		if f.queue != nil {
			for _, ev := range f.queue.events {
				em.deadLetterLocked(ev, "the emulator closed before the event ran")
			}
			f.queue.events = nil
		}
	}
	em.cond.Broadcast()
	var envs []*environment
	for _, f := range em.functions {
		envs = append(envs, f.pool.envs...)
	}
	em.mu.Unlock()
	for _, env := range envs {
		env.stop()
	}
	var errs []error
	for _, env := range envs {
		select {
		case <-env.stopped:
			<-env.gone
		case <-time.After(5 * time.Second):
			errs = append(errs, fmt.Errorf("lambda emulator: close: environment %s did not end", env.name))
		}
	}
	// Attempts cut short by the stopped environments settle as dead letters.
	settled := make(chan struct{})
	go func() {
		em.mu.Lock()
		for em.pending > 0 && !em.gaveUp {
			em.cond.Wait()
		}
		em.mu.Unlock()
		close(settled)
	}()
	select {
	case <-settled:
	case <-time.After(5 * time.Second):
		em.mu.Lock()
		em.gaveUp = true
		em.cond.Broadcast()
		errs = append(errs, fmt.Errorf("lambda emulator: close: %d accepted events unaccounted for", em.pending))
		em.mu.Unlock()
	}
	em.servers.Wait()
	if em.tmpDir != "" {
		if err := os.RemoveAll(em.tmpDir); err != nil {
			errs = append(errs, fmt.Errorf("lambda emulator: close: %w", err))
		}
	}
	return errors.Join(errs...)
}

// SetRTT makes table the round trips invokes that arrive from now on wait by
// (Options.RTT).
func (em *Emulator) SetRTT(table rtt.Table) { em.net.Set(table) }

// Place is where the emulated functions run: "aws/" and the region.
func (em *Emulator) Place() string { return "aws/" + em.opts.Region }
