// Package tasks emulates Google Cloud Tasks queues with HTTP targets: the
// queue async calls to Cloud Functions go through (Cloud Functions has no
// async invoke API). A client creates a task with the REST form of
// CreateTask; the emulator delivers its HTTP request at least once,
// retrying answers other than 2xx with exponential backoff as a queue's
// retry config says, and keeps a task that used up its attempts as a dead
// letter (Cloud Tasks itself drops it; a dead-letter list is what a
// deployment builds around it, and what tests need to see).
//
//	q := tasks.New(tasks.Options{MaxAttempts: 5})
//	if err := q.Start("127.0.0.1:0"); err != nil { ... }
//	defer q.Close()
//	url := q.QueueURL("my-project", "us-east4", "fusionize")
//	// POST url+"/tasks" {"task":{"httpRequest":{"url":..., "body":...}}}
//	dead := q.DeadLetters(url) // also GET /emulator/v1/deadletters
//
// Queues come into being on their first task. Deliveries carry Cloud Tasks'
// headers (X-CloudTasks-QueueName, -TaskName, -TaskRetryCount,
// -TaskExecutionCount). OIDC tokens a task asks for are not minted: the
// emulator's targets are emulated functions on loopback, which take none.
// A CreateTask from a caller that names its place waits the emulated round
// trip to the queue's location first (Options.RTT, emulators/netem).
package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/emulators/netem"
)

// Options configure an Emulator: the retry config of every queue. The zero
// value is Cloud Tasks' default config.
type Options struct {
	// MaxAttempts is how many times a task is attempted before it is
	// dead-lettered (Cloud Tasks' default 100).
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts; it
	// doubles from MinBackoff (defaults 100 ms and 1 h, Cloud Tasks').
	MinBackoff, MaxBackoff time.Duration
	// DispatchDeadline bounds one attempt (default 10 min, Cloud Tasks'
	// for HTTP targets).
	DispatchDeadline time.Duration
	HTTPClient       *http.Client
	// RTT is the table of round trips between places (nil: rtt.Default()).
	// A CreateTask whose caller names its place (rtt.CallerPlaceHeader)
	// waits the emulated round trip between that place and "gcp/L", the
	// queue's location, before it is answered (package emulators/netem).
	// Deliveries start in the queue's own place and wait none.
	RTT    *rtt.Table
	Logger *slog.Logger
}

// Task is a task as the REST API shows it.
type Task struct {
	Name             string      `json:"name"`
	HTTPRequest      HTTPRequest `json:"httpRequest"`
	CreateTime       time.Time   `json:"createTime"`
	DispatchCount    int         `json:"dispatchCount"`
	ResponseCount    int         `json:"responseCount"`
	FirstAttemptTime time.Time   `json:"firstAttemptTime,omitzero"`
	LastAttemptTime  time.Time   `json:"lastAttemptTime,omitzero"`
	LastStatus       int         `json:"lastStatus,omitempty"`
	LastError        string      `json:"lastError,omitempty"`
}

// HTTPRequest is a task's HTTP target.
type HTTPRequest struct {
	URL        string            `json:"url"`
	HTTPMethod string            `json:"httpMethod,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       []byte            `json:"body,omitempty"`
	OIDCToken  json.RawMessage   `json:"oidcToken,omitempty"`
}

// DeadLetter is a task that used up its attempts.
type DeadLetter struct {
	Queue string `json:"queue"`
	Task
}

// Stats counts what a queue did.
type Stats struct {
	Created      int // tasks accepted
	Delivered    int // tasks answered 2xx
	Attempts     int // deliveries tried
	DeadLettered int
	Pending      int // accepted, not yet delivered or dead-lettered
}

// Emulator is a set of emulated queues served over HTTP.
type Emulator struct {
	opts Options
	log  *slog.Logger
	net  *netem.Network

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	srv    *http.Server
	ln     net.Listener

	mu     sync.Mutex
	queues map[string]*queue // by resource name
	seq    int
	closed bool
}

type queue struct {
	pending map[string]*Task
	dead    []DeadLetter
	stats   Stats
}

// New returns an emulator; Start or Serve serve it.
func New(opts Options) *Emulator {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 100
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Hour
	}
	if opts.DispatchDeadline <= 0 {
		opts.DispatchDeadline = 10 * time.Minute
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Emulator{opts: opts, log: log, net: netem.Of(opts.RTT, log), ctx: ctx, cancel: cancel, queues: map[string]*queue{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/projects/{project}/locations/{location}/queues/{queue}/tasks", e.serveCreate)
	mux.HandleFunc("GET /v2/projects/{project}/locations/{location}/queues/{queue}/tasks", e.serveList)
	mux.HandleFunc("GET /emulator/v1/deadletters", e.serveDeadLetters)
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return e
}

// SetRTT makes table the round trips CreateTask requests that arrive from
// now on wait by (Options.RTT).
func (e *Emulator) SetRTT(table rtt.Table) { e.net.Set(table) }

// Start listens on addr ("127.0.0.1:0") and serves until Close.
func (e *Emulator) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("tasks: listen: %w", err)
	}
	e.Serve(ln)
	return nil
}

// Serve serves on ln in the background until Close.
func (e *Emulator) Serve(ln net.Listener) {
	e.mu.Lock()
	e.ln = ln
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("tasks: serve", "err", err)
		}
	}()
}

// URL is the emulator's base URL.
func (e *Emulator) URL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil {
		return ""
	}
	return "http://" + e.ln.Addr().String()
}

// QueueURL is the REST resource URL of a queue, what host/transport/https
// takes as its Queue.
func (e *Emulator) QueueURL(project, location, queue string) string {
	return e.URL() + "/v2/" + QueueName(project, location, queue)
}

// QueueName is a queue's resource name.
func QueueName(project, location, queue string) string {
	return "projects/" + project + "/locations/" + location + "/queues/" + queue
}

// Close stops serving and delivering; pending tasks are dropped.
func (e *Emulator) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	e.wg.Wait()
	return err
}

// queueOf finds a queue by resource name or URL.
func queueOf(s string) string {
	if i := strings.Index(s, "/v2/"); i >= 0 {
		s = s[i+len("/v2/"):]
	}
	return strings.TrimSuffix(strings.TrimSuffix(s, "/"), "/tasks")
}

// DeadLetters returns the dead letters of queue (a resource name or URL).
func (e *Emulator) DeadLetters(queue string) []DeadLetter {
	e.mu.Lock()
	defer e.mu.Unlock()
	if q := e.queues[queueOf(queue)]; q != nil {
		return append([]DeadLetter(nil), q.dead...)
	}
	return nil
}

// Stats returns the counters of queue (a resource name or URL).
func (e *Emulator) Stats(queue string) Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	if q := e.queues[queueOf(queue)]; q != nil {
		s := q.stats
		s.Pending = len(q.pending)
		return s
	}
	return Stats{}
}

// Pending is the number of tasks accepted and neither delivered nor
// dead-lettered, over every queue: the queues' task counts as Cloud Tasks'
// GetQueue stats give them.
func (e *Emulator) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, q := range e.queues {
		n += len(q.pending)
	}
	return n
}

type createRequest struct {
	Task struct {
		Name        string      `json:"name"`
		HTTPRequest HTTPRequest `json:"httpRequest"`
	} `json:"task"`
}

// maxTaskBytes is Cloud Tasks' limit on a task.
const maxTaskBytes = 1 << 20

func (e *Emulator) serveCreate(w http.ResponseWriter, r *http.Request) {
	name := QueueName(r.PathValue("project"), r.PathValue("location"), r.PathValue("queue"))
	// Emulated: the network between the caller's place and the queue's.
	if _, err := e.net.Wait(r.Context(), r, "gcp/"+r.PathValue("location")); err != nil {
		return // the caller went away
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 2*maxTaskBytes+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "reading the request: "+err.Error())
		return
	}
	var req createRequest
	if err := json.Unmarshal(data, &req); err != nil {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "not a CreateTaskRequest: "+err.Error())
		return
	}
	hr := req.Task.HTTPRequest
	if !strings.HasPrefix(hr.URL, "http://") && !strings.HasPrefix(hr.URL, "https://") {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("task.httpRequest.url %q must be an http(s) URL", hr.URL))
		return
	}
	if len(hr.Body) > maxTaskBytes {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("Task size too large: %d bytes, the limit is %d", len(hr.Body), maxTaskBytes))
		return
	}
	if hr.HTTPMethod == "" {
		hr.HTTPMethod = http.MethodPost
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		apiError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the emulator is closing")
		return
	}
	q := e.queues[name]
	if q == nil {
		q = &queue{pending: map[string]*Task{}}
		e.queues[name] = q
	}
	e.seq++
	t := &Task{Name: name + "/tasks/" + strconv.Itoa(e.seq), HTTPRequest: hr, CreateTime: time.Now().UTC()}
	q.pending[t.Name] = t
	q.stats.Created++
	snapshot := *t
	e.wg.Add(1)
	e.mu.Unlock()
	go e.deliver(name, q, t)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(snapshot)
}

// deliver attempts t until it is answered 2xx or out of attempts.
func (e *Emulator) deliver(qname string, q *queue, t *Task) {
	defer e.wg.Done()
	backoff := e.opts.MinBackoff
	for attempt := 0; ; attempt++ {
		status, err := e.attempt(qname, t, attempt)
		e.mu.Lock()
		now := time.Now().UTC()
		if t.FirstAttemptTime.IsZero() {
			t.FirstAttemptTime = now
		}
		t.LastAttemptTime, t.DispatchCount, t.LastStatus = now, t.DispatchCount+1, status
		t.LastError = ""
		if err != nil {
			t.LastError = err.Error()
		}
		if status != 0 {
			t.ResponseCount++
		}
		q.stats.Attempts++
		done := err == nil && status/100 == 2
		if done {
			q.stats.Delivered++
			delete(q.pending, t.Name)
		} else if attempt+1 >= e.opts.MaxAttempts {
			q.stats.DeadLettered++
			delete(q.pending, t.Name)
			q.dead = append(q.dead, DeadLetter{Queue: qname, Task: *t})
			e.log.Warn("tasks: dead letter", "task", t.Name, "attempts", t.DispatchCount, "status", status, "err", err)
			done = true
		}
		e.mu.Unlock()
		if done {
			return
		}
		select {
		case <-e.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, e.opts.MaxBackoff)
	}
}

// attempt sends t's request once and returns the answer's status.
func (e *Emulator) attempt(qname string, t *Task, attempt int) (int, error) {
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.DispatchDeadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, t.HTTPRequest.HTTPMethod, t.HTTPRequest.URL, bytes.NewReader(t.HTTPRequest.Body))
	if err != nil {
		return 0, err
	}
	for k, v := range t.HTTPRequest.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "Google-Cloud-Tasks")
	req.Header.Set("X-CloudTasks-QueueName", qname[strings.LastIndex(qname, "/")+1:])
	req.Header.Set("X-CloudTasks-TaskName", t.Name[strings.LastIndex(t.Name, "/")+1:])
	req.Header.Set("X-CloudTasks-TaskRetryCount", strconv.Itoa(attempt))
	req.Header.Set("X-CloudTasks-TaskExecutionCount", strconv.Itoa(t.ResponseCount))
	resp, err := e.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		// The answer's start says why: it goes in the task's LastError.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode, fmt.Errorf("%s answered %s: %s", t.HTTPRequest.URL, resp.Status, strings.TrimSpace(string(body)))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func (e *Emulator) serveList(w http.ResponseWriter, r *http.Request) {
	name := QueueName(r.PathValue("project"), r.PathValue("location"), r.PathValue("queue"))
	e.mu.Lock()
	var ts []Task
	if q := e.queues[name]; q != nil {
		for _, t := range q.pending {
			ts = append(ts, *t)
		}
	}
	e.mu.Unlock()
	if ts == nil {
		ts = []Task{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"tasks": ts})
}

// serveDeadLetters answers GET /emulator/v1/deadletters?queue=NAME (all
// queues without it).
func (e *Emulator) serveDeadLetters(w http.ResponseWriter, r *http.Request) {
	var dead []DeadLetter
	if qn := r.URL.Query().Get("queue"); qn != "" {
		dead = e.DeadLetters(qn)
	} else {
		e.mu.Lock()
		for _, q := range e.queues {
			dead = append(dead, q.dead...)
		}
		e.mu.Unlock()
	}
	if dead == nil {
		dead = []DeadLetter{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"emulated": true, "deadLetters": dead})
}

// apiError answers in the shape of Google APIs' JSON errors.
func apiError(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}
