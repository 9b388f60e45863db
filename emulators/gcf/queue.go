package gcf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// QueueOptions are a queue's retry configuration, named as Cloud Tasks
// names them. Zero values take Cloud Tasks' defaults where they are
// practical on one machine.
type QueueOptions struct {
	// MaxAttempts is how many times a task is tried before it is dead-lettered
	// (default 100, as Cloud Tasks).
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts, doubling
	// from MinBackoff (defaults 100 ms and 1 h, as Cloud Tasks).
	MinBackoff, MaxBackoff time.Duration
	// MaxConcurrentDispatches bounds tasks in flight (default 1000).
	MaxConcurrentDispatches int
	// DispatchDeadline bounds one attempt (default 10 min, as for HTTP targets).
	DispatchDeadline time.Duration
}

// Task is one HTTP task: a request the queue delivers at least once.
type Task struct {
	Name    string      `json:"name"`
	URL     string      `json:"url"`
	Method  string      `json:"method,omitempty"` // default POST
	Header  http.Header `json:"header,omitempty"`
	Body    []byte      `json:"body,omitempty"`
	Created time.Time   `json:"created"`
	// Attempts made so far and the outcome of the last one.
	Attempts   int    `json:"attempts"`
	LastStatus int    `json:"last_status,omitempty"`
	LastError  string `json:"last_error,omitempty"`
	Delivered  bool   `json:"delivered"`
}

// Queue is an emulated Cloud Tasks HTTP queue: each task is delivered at
// least once; a non-2xx answer or a failed attempt is retried with
// exponential backoff, and a task that fails MaxAttempts times moves to the
// dead-letter list.
type Queue struct {
	e    *Emulator
	name string
	opts QueueOptions
	sem  chan struct{}

	mu        sync.Mutex
	seq       int
	delivered []Task
	dead      []Task
}

// CreateQueue creates the queue name with opts (ErrAlreadyExists if taken).
func (e *Emulator) CreateQueue(name string, opts QueueOptions) (*Queue, error) {
	if err := checkSegment("queue", name); err != nil {
		return nil, err
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 100
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Hour
	}
	if opts.MaxConcurrentDispatches <= 0 {
		opts.MaxConcurrentDispatches = 1000
	}
	if opts.DispatchDeadline <= 0 {
		opts.DispatchDeadline = 10 * time.Minute
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.queues[name] != nil {
		return nil, fmt.Errorf("%w: queue %q", ErrAlreadyExists, name)
	}
	q := &Queue{e: e, name: name, opts: opts, sem: make(chan struct{}, opts.MaxConcurrentDispatches)}
	e.queues[name] = q
	return q, nil
}

// Queue returns the queue name, created with default options if new.
func (e *Emulator) Queue(name string) (*Queue, error) {
	e.mu.Lock()
	q := e.queues[name]
	e.mu.Unlock()
	if q != nil {
		return q, nil
	}
	q, err := e.CreateQueue(name, QueueOptions{})
	if errors.Is(err, ErrAlreadyExists) { // created meanwhile
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.queues[name], nil
	}
	return q, err
}

// Enqueue schedules t for delivery now and returns its name.
func (q *Queue) Enqueue(t Task) (string, error) {
	if !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://") {
		return "", fmt.Errorf("%w: queue %s: task url %q is not http(s)", ErrInvalidArgument, q.name, t.URL)
	}
	if t.Method == "" {
		t.Method = http.MethodPost
	}
	q.mu.Lock()
	q.seq++
	t.Name = fmt.Sprintf("queues/%s/tasks/%d", q.name, q.seq)
	q.mu.Unlock()
	t.Created, t.Attempts, t.Delivered = time.Now(), 0, false
	e := q.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", ErrClosed
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		q.run(t)
	}()
	return t.Name, nil
}

// run tries t until it succeeds, runs out of attempts or the emulator closes.
func (q *Queue) run(t Task) {
	ctx := q.e.ctx
	backoff := q.opts.MinBackoff
	for {
		select {
		case q.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		t.LastStatus, t.LastError = q.attempt(ctx, &t)
		<-q.sem
		t.Attempts++
		if t.LastStatus >= 200 && t.LastStatus < 300 {
			t.Delivered = true
			q.mu.Lock()
			q.delivered = append(q.delivered, t)
			q.mu.Unlock()
			return
		}
		if t.Attempts >= q.opts.MaxAttempts {
			q.e.log.Warn("gcf: task dead-lettered", "queue", q.name, "task", t.Name, "attempts", t.Attempts, "status", t.LastStatus, "err", t.LastError)
			q.mu.Lock()
			q.dead = append(q.dead, t)
			q.mu.Unlock()
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, q.opts.MaxBackoff)
	}
}

// attempt sends one delivery with Cloud Tasks' headers.
func (q *Queue) attempt(ctx context.Context, t *Task) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, q.opts.DispatchDeadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, t.Method, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return 0, err.Error()
	}
	for k, v := range t.Header {
		req.Header[k] = v
	}
	req.Header.Set("X-CloudTasks-QueueName", q.name)
	req.Header.Set("X-CloudTasks-TaskName", t.Name[strings.LastIndexByte(t.Name, '/')+1:])
	req.Header.Set("X-CloudTasks-TaskRetryCount", strconv.Itoa(t.Attempts))
	req.Header.Set("X-CloudTasks-TaskExecutionCount", strconv.Itoa(t.Attempts))
	req.Header.Set("X-CloudTasks-TaskETA", strconv.FormatInt(t.Created.Unix(), 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Sprintf("queue %s task %s: %v", q.name, t.Name, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Sprintf("queue %s task %s: %s: %s", q.name, t.Name, resp.Status, strings.TrimSpace(string(body)))
	}
	return resp.StatusCode, ""
}

// DeadLetters returns the tasks that failed MaxAttempts times, oldest first.
func (q *Queue) DeadLetters() []Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Task(nil), q.dead...)
}

// Delivered returns the tasks delivered so far, in delivery order.
func (q *Queue) Delivered() []Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Task(nil), q.delivered...)
}

// serveQueue: POST /emulator/v1/queues/Q/tasks enqueues a Task (JSON);
// GET .../dead-letters and GET .../delivered list tasks.
func (e *Emulator) serveQueue(w http.ResponseWriter, r *http.Request) {
	name, what := r.PathValue("queue"), r.PathValue("what")
	q, err := e.Queue(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out any
	switch {
	case r.Method == http.MethodPost && what == "tasks":
		var t Task
		if err := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes)).Decode(&t); err != nil {
			http.Error(w, fmt.Sprintf("queue %s: task JSON: %v", name, err), http.StatusBadRequest)
			return
		}
		id, err := q.Enqueue(t)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out = map[string]string{"name": id}
	case r.Method == http.MethodGet && what == "dead-letters":
		out = map[string]any{"emulated": true, "tasks": nonNil(q.DeadLetters())}
	case r.Method == http.MethodGet && what == "delivered":
		out = map[string]any{"emulated": true, "tasks": nonNil(q.Delivered())}
	default:
		http.Error(w, "POST tasks, GET dead-letters or GET delivered", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func nonNil(ts []Task) []Task {
	if ts == nil {
		return []Task{}
	}
	return ts
}
