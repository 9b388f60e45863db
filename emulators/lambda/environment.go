package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/fusionize/fusionize/emulators/sandbox"
)

// The Runtime API's payload limits: what a runtime may post as a response (Lambda's own
// figure, 100 bytes over 6 MiB) and what a client may send synchronously.
const (
	maxResponse     = 6291556
	maxSyncRequest  = 6 << 20
	maxAsyncRequest = 1 << 20
	// initTimeout is Lambda's limit on an on-demand environment's init phase.
	initTimeout = 10 * time.Second
	// initPoll is how often an init's environment time is checked against
	// initTimeout; initWallLimit bounds an init in wall time whatever the load.
	initPoll      = 50 * time.Millisecond
	initWallLimit = 10 * initTimeout
)

// environment is one execution environment: a sandboxed process running a version's
// bootstrap, with its own Runtime API listener.
type environment struct {
	em   *Emulator
	ver  *version
	name string

	sb      *sandbox.Env
	ln      net.Listener
	srv     *http.Server
	logR    *os.File
	logDone chan struct{}

	deliver chan *invocation
	ready   chan struct{} // closed at the runtime's first GET /next
	gone    chan struct{} // closed once the process has exited and its invocation is settled

	startMark sandbox.Mark
	mu        sync.Mutex // guards the fields below
	current   *invocation
	initDone  bool
	initDur   time.Duration
	initErr   []byte // what the runtime posted to /runtime/init/error
	used      bool   // an invocation was delivered
	initLog   bytes.Buffer
	stopOnce  sync.Once
	stopped   chan struct{} // closed once the process is reaped and its cgroups removed

	// pool state, guarded by Emulator.mu
	idle     bool
	acquired bool
	lastUsed time.Time
	reclaim  *time.Timer
}

// result is what the invoker receives.
type result struct {
	payload       []byte
	functionError string // "" or "Unhandled"
	errorType     string
}

// failure is an Unhandled result with Lambda's error shape.
func failure(errorType, format string, args ...any) result {
	msg := fmt.Sprintf(format, args...)
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{errorType, msg})
	return result{payload: b, functionError: "Unhandled", errorType: errorType}
}

// invocation is one request to a function, sync or one attempt of an async event.
type invocation struct {
	id            string
	ver           *version
	invokedArn    string
	payload       []byte
	clientContext string
	async         bool
	network       time.Duration // emulated round trip waited before dispatch
	xray          string        // the Invoke's X-Amzn-Trace-Id, "" when it had none
	arrived       time.Time     // when the Invoke was dispatched (after the network wait)
	stretch       time.Duration // see Report.Stretch

	env       *environment
	cold      bool
	initDur   time.Duration
	delivered time.Time
	mark      sandbox.Mark
	timer     *time.Timer
	timedOut  bool

	respondOnce sync.Once
	responded   chan struct{} // res is set
	res         result
	ended       chan struct{} // report is set
	report      Report
	log         bytes.Buffer // guarded by env.mu until ended
}

func newInvocation(v *version, arn string, payload []byte) *invocation {
	return &invocation{id: newRevision(), ver: v, invokedArn: arn, payload: payload,
		responded: make(chan struct{}), ended: make(chan struct{})}
}

// answered sets inv's stretch as its runtime answers it: the wall time since
// the Invoke's dispatch less the emulated time the platform would have
// taken (the sandbox delay and init of a cold start, then the environment's
// own time since delivery).
func (inv *invocation) answered(env *environment) {
	if inv.arrived.IsZero() {
		return // an Event attempt: nobody waits for its answer
	}
	emulated := env.sb.Since(inv.mark)
	if inv.cold {
		emulated += env.em.opts.SandboxDelay + inv.initDur
	}
	inv.stretch = max(time.Since(inv.arrived)-emulated, 0)
}

func (inv *invocation) respond(r result) {
	inv.respondOnce.Do(func() {
		inv.res = r
		close(inv.responded)
	})
}

// startEnvironment makes a new environment for v and waits for its runtime's first GET
// /next. An init that fails is a result for the invoker (Lambda answers it as an Unhandled
// function error), not an error.
func (em *Emulator) startEnvironment(ctx context.Context, v *version, requestID string) (*environment, *result, error) {
	if d := em.opts.SandboxDelay; d > 0 { // emulated: the platform's own sandbox start
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		}
	}
	em.mu.Lock()
	em.envSeq++
	seq := em.envSeq
	em.mu.Unlock()
	env := &environment{
		em: em, ver: v, name: fmt.Sprintf("lambda-%d-%d-%s-%s-%d", os.Getpid(), em.id, v.fn.name, strings.TrimPrefix(v.cfg.VersionString, "$"), seq),
		deliver: make(chan *invocation), ready: make(chan struct{}), gone: make(chan struct{}), logDone: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("function %s version %s: runtime API listener: %w", v.fn.name, v.cfg.VersionString, err)
	}
	env.ln = ln
	env.srv = &http.Server{Handler: env.runtimeAPI(), ReadHeaderTimeout: 10 * time.Second}
	go env.srv.Serve(ln)
	r, w, err := os.Pipe()
	if err != nil {
		env.closeServer()
		return nil, nil, fmt.Errorf("function %s: %w", v.fn.name, err)
	}
	env.logR = r
	// The runtime may call GET /next before Start returns: next waits for sb and the mark.
	env.mu.Lock()
	sb, err := sandbox.Start(context.Background(), sandbox.Spec{
		Name: env.name, Path: filepath.Join(v.cfg.CodeDir, "bootstrap"), Dir: v.cfg.CodeDir,
		Env: env.variables(), Stdout: w, Stderr: w,
		Limits: sandbox.Limits{VCPU: float64(v.cfg.MemorySize) / 1769, MemoryMB: v.cfg.MemorySize},
	})
	w.Close()
	if err != nil {
		env.mu.Unlock()
		r.Close()
		env.closeServer()
		if errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "not an executable") {
			res := failure("Runtime.InvalidEntrypoint", "RequestId: %s Error: Couldn't find valid bootstrap(s): [%s]", requestID, filepath.Join(v.cfg.CodeDir, "bootstrap"))
			return nil, &res, nil
		}
		return nil, nil, fmt.Errorf("function %s version %s: start environment: %w", v.fn.name, v.cfg.VersionString, err)
	}
	env.sb = sb
	env.startMark = sb.Mark()
	env.mu.Unlock()
	if !em.track(env) { // Close has begun: this environment never joins the pool
		env.stop()
		<-env.stopped
		r.Close()
		env.closeServer()
		return nil, nil, ErrClosed
	}
	go env.readLogs()
	go env.watch()
	// The init limit counts environment time (sandbox.Env.Since), as every
	// other duration here does, so a busy machine does not time inits out;
	// initWallLimit of wall time ends an init that makes no progress at all.
	tick := time.NewTicker(initPoll)
	defer tick.Stop()
	wall := time.NewTimer(initWallLimit)
	defer wall.Stop()
	for {
		select {
		case <-env.ready:
			return env, nil, nil
		case <-env.gone:
			env.mu.Lock()
			posted := env.initErr
			env.mu.Unlock()
			if posted != nil {
				res := result{payload: posted, functionError: "Unhandled", errorType: errorTypeOf(posted, "")}
				return nil, &res, nil
			}
			res := failure(exitErrorType(sb.Err()), "RequestId: %s Error: %s", requestID, exitMessage(sb.Err()))
			return nil, &res, nil
		case <-tick.C:
			if sb.Since(env.startMark) < initTimeout {
				continue
			}
		case <-wall.C:
		case <-ctx.Done():
			env.stop()
			<-env.gone
			return nil, nil, ctx.Err()
		}
		env.stop()
		<-env.gone
		res := failure("Sandbox.Timedout", "RequestId: %s Error: init phase timed out after %.2f seconds", requestID, initTimeout.Seconds())
		return nil, &res, nil
	}
}

func (env *environment) variables() []string {
	c := env.ver.cfg
	vars := make([]string, 0, len(c.Variables)+16)
	for k, v := range c.Variables {
		vars = append(vars, k+"="+v)
	}
	fn := env.ver.fn.name
	return append(vars,
		"AWS_LAMBDA_RUNTIME_API="+env.ln.Addr().String(),
		"LAMBDA_TASK_ROOT="+c.CodeDir,
		"LAMBDA_RUNTIME_DIR="+c.CodeDir,
		"_HANDLER="+c.Handler,
		"AWS_LAMBDA_FUNCTION_NAME="+fn,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(c.MemorySize),
		"AWS_LAMBDA_FUNCTION_VERSION="+c.VersionString,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+fn,
		"AWS_LAMBDA_LOG_STREAM_NAME="+time.Now().UTC().Format("2006/01/02")+"/["+c.VersionString+"]"+env.name,
		"AWS_REGION="+env.em.opts.Region,
		"AWS_DEFAULT_REGION="+env.em.opts.Region,
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin",
	)
}

// watch settles the environment once its process exits: the invocation it was running
// fails as Lambda fails it, and the environment leaves the pool.
func (env *environment) watch() {
	<-env.sb.Done()
	select {
	case <-env.logDone:
	case <-time.After(time.Second):
	}
	err := env.sb.Err()
	peak := env.sb.MaxMemoryBytes() // before Stop removes the cgroup
	env.mu.Lock()
	cur := env.current
	env.current = nil
	env.mu.Unlock()
	// The environment leaves the pool before its invocation's caller hears of the failure.
	close(env.gone)
	env.em.release(env, false)
	if cur != nil {
		status, res := "error", result{}
		d := time.Since(cur.delivered) // the process is gone: wall time is what is left
		switch {
		case cur.timedOut:
			t := time.Duration(cur.ver.cfg.Timeout) * time.Second
			status, d = "timeout", t
			res = failure("Sandbox.Timedout", "RequestId: %s Error: Task timed out after %.2f seconds", cur.id, t.Seconds())
			env.appendInvocationLog(cur, fmt.Sprintf("%s %s Task timed out after %.2f seconds\n", time.Now().UTC().Format(time.RFC3339Nano), cur.id, t.Seconds()))
		default:
			res = failure(exitErrorType(err), "RequestId: %s Error: %s", cur.id, exitMessage(err))
			env.appendInvocationLog(cur, fmt.Sprintf("RequestId: %s Error: %s\n%s\n", cur.id, exitMessage(err), exitErrorType(err)))
		}
		cur.respond(res) // no effect when the runtime had already answered
		env.finish(cur, d, time.Since(cur.delivered), status, false, peak)
	}
	env.closeServer()
}

func exitErrorType(err error) string {
	if errors.Is(err, sandbox.ErrOutOfMemory) {
		return "Runtime.OutOfMemory"
	}
	return "Runtime.ExitError"
}

func exitMessage(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "Runtime exited without providing a reason"
	case errors.Is(err, sandbox.ErrOutOfMemory):
		return "Runtime exited with error: signal: killed"
	case errors.As(err, &ee):
		return "Runtime exited with error: " + ee.String()
	}
	return "Runtime exited with error: " + err.Error()
}

// finish writes the invocation's END and REPORT lines, records the report and ends it.
// reuse tells whether the environment goes back to the pool (the runtime asked for more).
// wall is the same stretch as d on this machine's clock.
func (env *environment) finish(inv *invocation, d, wall time.Duration, status string, reuse bool, peak uint64) {
	if inv.timer != nil {
		inv.timer.Stop()
	}
	v := inv.ver
	if status == "success" && inv.res.functionError != "" {
		status = "error"
	}
	maxMem := int((peak + 1<<20 - 1) >> 20)
	if errors.Is(env.sb.Err(), sandbox.ErrOutOfMemory) {
		maxMem = v.cfg.MemorySize
	}
	r := Report{
		Function: v.fn.name, Version: v.cfg.VersionString, RequestID: inv.id, Async: inv.async,
		Time: time.Now(), Duration: d, InitDuration: inv.initDur, Cold: inv.cold,
		MemorySizeMB: v.cfg.MemorySize, MaxMemoryUsed: maxMem, Architecture: v.cfg.Architecture,
		Status: status, ErrorType: inv.res.errorType, NetworkRTT: inv.network,
		TraceID: xrayTraceID(inv.xray), Stretch: inv.stretch, WallDuration: max(wall, d),
	}
	if status == "success" {
		r.ErrorType = ""
	}
	r.BilledDuration = billed(r.Duration, r.InitDuration)
	r.CostUSD = cost(r.BilledDuration, r.MemorySizeMB, r.Architecture)
	r.Line = r.line()
	env.appendInvocationLog(inv, "END RequestId: "+inv.id+"\n"+r.Line+"\n")
	inv.report = r
	env.em.addReport(r)
	if reuse {
		env.em.release(env, true)
	}
	close(inv.ended)
}

// run delivers inv to the environment's runtime, which must be waiting in GET /next.
func (env *environment) run(ctx context.Context, inv *invocation) error {
	select {
	case env.deliver <- inv:
		return nil
	case <-env.gone:
		return fmt.Errorf("function %s version %s: environment %s exited before request %s was delivered", inv.ver.fn.name, inv.ver.cfg.VersionString, env.name, inv.id)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop ends the environment's process (SIGTERM, then SIGKILL after a grace period).
func (env *environment) stop() {
	env.stopOnce.Do(func() {
		go func() {
			defer close(env.stopped)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if err := env.sb.Stop(ctx); err != nil {
				env.em.log.Warn("lambda: stopping environment", "environment", env.name, "err", err)
			}
		}()
	})
}

// kill ends the process at once (timeouts).
func (env *environment) kill() {
	_ = syscall.Kill(-env.sb.PID(), syscall.SIGKILL)
	env.stop()
}

func (env *environment) closeServer() {
	_ = env.srv.Close()
	_ = env.ln.Close()
}

// readLogs copies the process's output to the current invocation's log and the function's.
func (env *environment) readLogs() {
	defer close(env.logDone)
	defer env.logR.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := env.logR.Read(buf)
		if n > 0 {
			env.mu.Lock()
			if cur := env.current; cur != nil {
				cur.log.Write(buf[:n])
			} else if !env.used {
				env.initLog.Write(buf[:n])
			}
			env.mu.Unlock()
			env.em.appendFunctionLog(env.ver.fn.name, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// flushLogs waits (briefly) until the process's output written so far has been read.
func (env *environment) flushLogs() {
	rc, err := env.logR.SyscallConn()
	if err != nil {
		return
	}
	for i := 0; i < 200; i++ {
		var n int32
		_ = rc.Control(func(fd uintptr) {
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); e != 0 {
				n = 0
			}
		})
		if n == 0 {
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func (env *environment) appendInvocationLog(inv *invocation, s string) {
	env.mu.Lock()
	inv.log.WriteString(s)
	env.mu.Unlock()
	env.em.appendFunctionLog(inv.ver.fn.name, []byte(s))
}

// runtimeAPI serves the Lambda Runtime API to this environment's runtime.
func (env *environment) runtimeAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", env.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", env.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", env.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", env.initError)
	return mux
}

func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}

func (env *environment) next(w http.ResponseWriter, r *http.Request) {
	env.mu.Lock()
	if !env.initDone {
		env.initDone = true
		env.initDur = env.sb.Since(env.startMark)
		close(env.ready)
	}
	cur := env.current
	env.mu.Unlock()
	if cur != nil {
		d, wall := env.sb.Since(cur.mark), time.Since(cur.delivered)
		env.flushLogs()
		env.mu.Lock()
		if env.current != cur { // settled by watch meanwhile
			env.mu.Unlock()
			return
		}
		env.current = nil
		env.mu.Unlock()
		cur.respond(failure("Runtime.NoResponse", "RequestId: %s Error: the runtime asked for the next event without answering this one", cur.id))
		env.finish(cur, d, wall, "success", true, env.sb.MaxMemoryBytes())
	}
	var inv *invocation
	select {
	case inv = <-env.deliver:
	case <-env.gone:
		return
	case <-r.Context().Done():
		return
	}
	env.mu.Lock()
	inv.env = env
	if !env.used {
		env.used = true
		inv.cold, inv.initDur = true, env.initDur
		inv.log.Write(env.initLog.Bytes())
		env.initLog.Reset()
	}
	fmt.Fprintf(&inv.log, "START RequestId: %s Version: %s\n", inv.id, inv.ver.cfg.VersionString)
	env.current = inv
	timeout := time.Duration(inv.ver.cfg.Timeout) * time.Second
	inv.delivered = time.Now()
	inv.mark = env.sb.Mark()
	inv.timer = time.AfterFunc(timeout, func() { env.timeout(inv) })
	env.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.delivered.Add(timeout).UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", inv.invokedArn)
	if inv.xray != "" {
		h.Set("Lambda-Runtime-Trace-Id", inv.xray) // the caller's trace, as Lambda passes it on
	} else {
		h.Set("Lambda-Runtime-Trace-Id", traceID(inv.delivered, inv.id))
	}
	if inv.clientContext != "" {
		h.Set("Lambda-Runtime-Client-Context", inv.clientContext)
	}
	_, _ = w.Write(inv.payload)
}

// xrayTraceID is the W3C trace id (32 hex digits) of an X-Ray tracing
// header's Root (1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY), "" when it has none.
func xrayTraceID(header string) string {
	for _, part := range strings.Split(header, ";") {
		root, ok := strings.CutPrefix(strings.TrimSpace(part), "Root=1-")
		if !ok || len(root) != 8+1+24 || root[8] != '-' {
			continue
		}
		id := strings.ToLower(root[:8] + root[9:])
		if strings.Trim(id, "0123456789abcdef") == "" {
			return id
		}
	}
	return ""
}

func traceID(t time.Time, id string) string {
	hex := strings.ReplaceAll(id, "-", "")
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", t.Unix(), hex[:24], hex[16:32])
}

func (env *environment) timeout(inv *invocation) {
	env.mu.Lock()
	if env.current != inv {
		env.mu.Unlock()
		return
	}
	inv.timedOut = true
	env.mu.Unlock()
	env.kill()
}

// invocationFor returns the running invocation with the id in the path, or answers the
// runtime with an error.
func (env *environment) invocationFor(w http.ResponseWriter, r *http.Request) *invocation {
	id := r.PathValue("id")
	env.mu.Lock()
	cur := env.current
	env.mu.Unlock()
	if cur == nil || cur.id != id {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID "+id)
		return nil
	}
	select {
	case <-cur.responded:
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "request "+id+" already has a response")
		return nil
	default:
	}
	return cur
}

func (env *environment) response(w http.ResponseWriter, r *http.Request) {
	inv := env.invocationFor(w, r)
	if inv == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponse+1))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	if len(body) > maxResponse {
		inv.respond(failure("Function.ResponseSizeTooLarge", "Response payload size exceeded maximum allowed payload size (%d bytes).", maxResponse))
		runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", maxResponse))
		return
	}
	inv.answered(env)
	inv.respond(result{payload: body})
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func (env *environment) invocationError(w http.ResponseWriter, r *http.Request) {
	inv := env.invocationFor(w, r)
	if inv == nil {
		return
	}
	body, ok := readPosted(w, r)
	if !ok {
		return
	}
	typ := errorTypeOf(body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))
	if !json.Valid(body) {
		body = failure(typ, "%s", body).payload
	}
	inv.respond(result{payload: body, functionError: "Unhandled", errorType: typ})
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func (env *environment) initError(w http.ResponseWriter, r *http.Request) {
	body, ok := readPosted(w, r)
	if !ok {
		return
	}
	typ := errorTypeOf(body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))
	if !json.Valid(body) {
		body = failure(typ, "%s", body).payload
	}
	env.mu.Lock()
	initialised := env.initDone
	if !initialised {
		env.initErr = body
	}
	env.mu.Unlock()
	if initialised {
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "init/error after init")
		return
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
	env.stop() // Lambda resets an environment whose init failed
}

// readPosted reads an error a runtime posts. A post cut short (the runtime
// was killed while sending it, as a timeout kills it) records nothing: the
// runtime gets 400 and the invocation ends as the process's end settles it.
func readPosted(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponse))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return nil, false
	}
	return body, true
}

// errorTypeOf is the error type a runtime reported: its header, else the body's errorType.
func errorTypeOf(body []byte, header string) string {
	if header != "" {
		return header
	}
	var e struct {
		ErrorType string `json:"errorType"`
	}
	if json.Unmarshal(body, &e) == nil && e.ErrorType != "" {
		return e.ErrorType
	}
	return "Runtime.Unknown"
}
