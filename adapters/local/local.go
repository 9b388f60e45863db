// Package local is the Adapter that runs each fusion group as a host process
// on this machine, listening on loopback. It is the embedded default: no
// cloud account, nothing to install.
//
//	a := local.New(local.Options{Dir: ".fusionize/local"})
//	defer a.Close(ctx)
//	ep, err := a.Deploy(ctx, adapters.Deployment{App: "iot", Version: 1, Group: g, ControlPlane: cp, Token: tok})
//
// Each process is `fusionize host` (Options.Command, runtime/process) for
// one group of one setup version; Deploy returns its gRPC address as the
// group's api.Endpoint.
//
// The adapter deploys only places of provider "local": a host process here
// is a plain host and stands in for no cloud (the clouds' emulators live in
// emulators/, reached through the aws and gcp adapters). It waits until the
// host writes its ready file and answers its health check, restarts a host
// that exits unexpectedly (on the same ports, so routes to it stay valid),
// and on Remove sends SIGTERM, waits for the host to drain, and kills it if
// it does not stop in time.
//
// Under Dir it keeps, per running host, <id>.ready.json (the host's
// addresses) and <id>.pid (its pid and ready file). If the adapter's process
// dies without Close (a control plane killed with SIGKILL), its hosts run on
// until they notice their control plane is gone (runtime/process,
// OrphanAfter); StopOrphans, run by the next adapter on the same Dir before
// it deploys, or by `fusionize down`, stops them at once from the pid files,
// after checking in /proc that each pid is still that host.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
	"github.com/fusionize/fusionize/runtime/process"
)

// Options configure the local adapter.
type Options struct {
	// Command starts a host process; the adapter appends its flags.
	// Default: this executable followed by "host".
	Command []string
	// Dir holds ready files and logs. Default ".fusionize/local".
	Dir string
	// StartTimeout bounds how long a host may take to become healthy.
	// Default 60 s.
	StartTimeout time.Duration
	// DrainTimeout bounds how long a removed host may take to drain before
	// it is killed. Default 30 s.
	DrainTimeout time.Duration
	// MaxRestarts bounds restarts of one crashing host within a minute.
	// Default 5.
	MaxRestarts int
	// Env is added to the host processes' environment.
	Env []string
	// Logger receives process events. Default slog.Default().
	Logger *slog.Logger
}

// Adapter runs groups as local host processes.
type Adapter struct {
	opts   Options
	health *grpctransport.Transport // asks hosts whether they serve

	mu     sync.Mutex
	procs  map[string]*proc
	closed bool
}

var _ adapters.Adapter = (*Adapter)(nil)

// New returns a local adapter.
func New(opts Options) *Adapter {
	if len(opts.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			exe = "fusionize"
		}
		opts.Command = []string{exe, "host"}
	}
	if opts.Dir == "" {
		opts.Dir = filepath.Join(".fusionize", "local")
	}
	// Absolute, so the ready file on a host's command line names it
	// wherever a later adapter runs from (StopOrphans).
	if abs, err := filepath.Abs(opts.Dir); err == nil {
		opts.Dir = abs
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.MaxRestarts <= 0 {
		opts.MaxRestarts = 5
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Plaintext to loopback only: the hosts listen there. Without options
	// the transport cannot fail to build.
	health, _ := grpctransport.NewTransport(grpctransport.Options{})
	return &Adapter{opts: opts, health: health, procs: make(map[string]*proc)}
}

// Provider is the provider of places on this machine.
const Provider = adapters.LocalProvider

// Name implements adapters.Adapter.
func (a *Adapter) Name() string { return "local" }

// Providers implements adapters.Adapter: "local".
func (a *Adapter) Providers() []string { return []string{Provider} }

// proc is one supervised host process.
type proc struct {
	d        adapters.Deployment
	ep       adapters.Endpoint
	args     []string
	ready    string // ready file path
	log      string // log file path
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd exits
	stopping bool
	watched  bool // a supervisor runs; done will close
	restarts []time.Time
	done     chan struct{} // closed when the supervisor ends
}

// Deploy implements adapters.Adapter.
func (a *Adapter) Deploy(ctx context.Context, d adapters.Deployment) (adapters.Endpoint, error) {
	if err := d.Validate(); err != nil {
		return adapters.Endpoint{}, fmt.Errorf("local: deploy: %w", err)
	}
	id := d.ID()
	if !adapters.Serves(a, d.Group.Place) {
		return adapters.Endpoint{}, fmt.Errorf("local: deploy %s: %w: place %s is not served here (provider %q only)", id, adapters.ErrInvalid, d.Group.Place, Provider)
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return adapters.Endpoint{}, fmt.Errorf("local: deploy %s: %w", id, adapters.ErrClosed)
	}
	if _, ok := a.procs[id]; ok {
		a.mu.Unlock()
		return adapters.Endpoint{}, fmt.Errorf("local: deploy %s: %w", id, adapters.ErrExists)
	}
	p := &proc{d: d, done: make(chan struct{})}
	a.procs[id] = p
	a.mu.Unlock()

	if err := os.MkdirAll(filepath.Join(a.opts.Dir, "logs"), 0o755); err != nil {
		a.forget(id)
		return adapters.Endpoint{}, fmt.Errorf("local: deploy %s: %w", id, err)
	}
	p.ready = filepath.Join(a.opts.Dir, id+".ready.json")
	p.log = filepath.Join(a.opts.Dir, "logs", id+".log")
	p.args = []string{
		"--app", d.App,
		"--group", d.Group.Name,
		"--setup-version", strconv.FormatInt(d.Version, 10),
		"--control-plane", d.ControlPlane,
		"--ready-file", p.ready,
	}
	listen := []string{"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}
	ready, err := a.start(ctx, p, listen)
	if err != nil {
		a.forget(id)
		return adapters.Endpoint{}, fmt.Errorf("local: deploy %s: %w", id, err)
	}
	p.ep = adapters.Endpoint{
		Group: d.Group.Name, Version: d.Version, Provider: adapters.Provider(d.Group.Place),
		Endpoint: api.GRPC(ready.GRPC), HTTP: "http://" + ready.HTTP,
	}
	// Restarts keep the ports, so routes to this group stay valid.
	p.args = append(p.args, "--listen", ready.GRPC, "--http-listen", ready.HTTP)
	a.mu.Lock()
	if p.stopping { // removed or closed while starting
		a.mu.Unlock()
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		return adapters.Endpoint{}, fmt.Errorf("local: deploy %s: %w", id, adapters.ErrClosed)
	}
	p.watched = true
	a.mu.Unlock()
	go a.supervise(p)
	return p.ep, nil
}

func (a *Adapter) forget(id string) {
	a.mu.Lock()
	delete(a.procs, id)
	a.mu.Unlock()
}

// start launches p's process and waits until it is ready and healthy.
func (a *Adapter) start(ctx context.Context, p *proc, extra []string) (process.Ready, error) {
	_ = os.Remove(p.ready)
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return process.Ready{}, err
	}
	args := append(append(append([]string{}, a.opts.Command[1:]...), p.args...), extra...)
	// Not CommandContext: the process outlives the deploy call.
	cmd := exec.Command(a.opts.Command[0], args...) //nolint:gosec // the command is the adapter's own
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(append(os.Environ(), a.opts.Env...), "FUSIONIZE_TOKEN="+p.d.Token, "FUSIONIZE_INVOKE_TOKEN="+p.d.InvokeToken)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return process.Ready{}, fmt.Errorf("start %s: %w", a.opts.Command[0], err)
	}
	pidPath := a.pidPath(p.d.ID())
	pidErr := writePID(pidPath, pidRecord{PID: cmd.Process.Pid, Ready: p.ready})
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		// The record goes with the process (a restart writes its own).
		if r, err := os.ReadFile(pidPath); err == nil && strings.Contains(string(r), fmt.Sprintf(`"pid":%d,`, cmd.Process.Pid)) {
			_ = os.Remove(pidPath)
		}
		close(exited)
	}()
	if pidErr != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return process.Ready{}, fmt.Errorf("record pid: %w", pidErr)
	}
	a.mu.Lock()
	p.cmd, p.exited = cmd, exited
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, a.opts.StartTimeout)
	defer cancel()
	ready, err := waitReady(ctx, p.ready, exited)
	if err == nil {
		err = a.checkHealth(ctx, ready.GRPC)
	}
	if err != nil {
		// The whole group: a host command may have started children, and
		// they outlive the process itself.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return process.Ready{}, fmt.Errorf("%w: %v (log: %s)", adapters.ErrUnhealthy, err, p.log)
	}
	return ready, nil
}

func waitReady(ctx context.Context, path string, exited <-chan struct{}) (process.Ready, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := process.ReadReady(path)
		if err == nil {
			return r, nil
		}
		if errors.Is(err, process.ErrStartFailed) {
			return process.Ready{}, err
		}
		select {
		case <-ctx.Done():
			return process.Ready{}, fmt.Errorf("no ready file %s: %w", path, ctx.Err())
		case <-exited:
			// The host writes why it gave up before it exits.
			if _, err := process.ReadReady(path); errors.Is(err, process.ErrStartFailed) {
				return process.Ready{}, err
			}
			return process.Ready{}, errors.New("host process exited before it was ready")
		case <-tick.C:
		}
	}
}

// checkHealth asks the host's Health RPC until it says SERVING.
func (a *Adapter) checkHealth(ctx context.Context, addr string) error {
	var last error
	for {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := a.health.Health(hctx, addr)
		cancel()
		if err == nil && st == fusionizev1.ServingStatus_SERVING_STATUS_SERVING {
			return nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("status %s", st)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("health of %s: %v", addr, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// supervise restarts p's process when it exits unexpectedly.
func (a *Adapter) supervise(p *proc) {
	defer close(p.done)
	for {
		a.mu.Lock()
		exited := p.exited
		a.mu.Unlock()
		<-exited
		a.mu.Lock()
		stopping := p.stopping
		now := time.Now()
		recent := p.restarts[:0]
		for _, t := range p.restarts {
			if now.Sub(t) < time.Minute {
				recent = append(recent, t)
			}
		}
		p.restarts = recent
		tooMany := len(p.restarts) >= a.opts.MaxRestarts
		a.mu.Unlock()
		if stopping {
			return
		}
		id := p.d.ID()
		if tooMany {
			a.opts.Logger.Error("host keeps crashing; giving up", "group", id, "restarts", len(p.restarts), "log", p.log)
			a.mu.Lock()
			p.ep.Endpoint.Address = "" // List shows only groups that serve
			a.mu.Unlock()
			return
		}
		a.opts.Logger.Warn("host exited; restarting", "group", id, "log", p.log)
		a.mu.Lock()
		p.restarts = append(p.restarts, now)
		a.mu.Unlock()
		if _, err := a.start(context.Background(), p, nil); err != nil {
			a.opts.Logger.Error("restart failed", "group", id, "err", err)
			// The exited channel of the failed start is closed: loop to
			// count it as another restart.
			continue
		}
		a.mu.Lock()
		stopping = p.stopping
		a.mu.Unlock()
		if stopping { // removed while restarting: stop the new process too
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		}
	}
}

// Remove implements adapters.Adapter.
func (a *Adapter) Remove(ctx context.Context, group string, version int64) error {
	id := adapters.ID(group, version)
	a.mu.Lock()
	p, ok := a.procs[id]
	if ok {
		delete(a.procs, id)
		p.stopping = true
	}
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("local: remove %s: %w", id, adapters.ErrNotFound)
	}
	return a.stop(ctx, p)
}

func (a *Adapter) stop(ctx context.Context, p *proc) error {
	a.mu.Lock()
	cmd, exited, watched := p.cmd, p.exited, p.watched
	a.mu.Unlock()
	if !watched {
		return nil // Deploy sees stopping and cleans up
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(a.opts.DrainTimeout)
	defer timer.Stop()
	var err error
	select {
	case <-exited:
	case <-timer.C:
		err = fmt.Errorf("local: %s did not drain within %s; killed", p.d.ID(), a.opts.DrainTimeout)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	case <-ctx.Done():
		err = fmt.Errorf("local: remove %s: %w; killed", p.d.ID(), ctx.Err())
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	<-p.done
	_ = os.Remove(p.ready)
	return err
}

// List implements adapters.Adapter.
func (a *Adapter) List(context.Context) ([]adapters.Endpoint, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]adapters.Endpoint, 0, len(a.procs))
	for _, p := range a.procs {
		if p.ep.Endpoint.Address != "" {
			out = append(out, p.ep)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Version != out[j].Version {
			return out[i].Version < out[j].Version
		}
		return out[i].Group < out[j].Group
	})
	return out, nil
}

// PID returns the process id of a deployed group's host, for tests and
// status output.
func (a *Adapter) PID(group string, version int64) (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.procs[adapters.ID(group, version)]
	if !ok || p.cmd == nil {
		return 0, false
	}
	return p.cmd.Process.Pid, true
}

// Close implements adapters.Adapter: it removes every group, in parallel.
func (a *Adapter) Close(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	procs := a.procs
	a.procs = make(map[string]*proc)
	for _, p := range procs {
		p.stopping = true
	}
	a.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, len(procs))
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- a.stop(ctx, p)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	all = append(all, a.health.Close())
	return errors.Join(all...)
}
