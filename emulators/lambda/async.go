package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// DeadLetter is an accepted Event invocation that did not succeed: every attempt failed,
// or the emulator closed or the function was deleted before it could run.
type DeadLetter struct {
	Function  string
	Qualifier string
	RequestID string // the Invoke call's request id
	Payload   []byte
	Attempts  int
	// ErrorType and ErrorMessage are the last attempt's function error, if one ran.
	ErrorType    string
	ErrorMessage string
	Reason       string
	Time         time.Time
}

// DeadLetters lists the Event invocations that did not succeed, oldest first.
func (em *Emulator) DeadLetters() []DeadLetter {
	em.mu.Lock()
	defer em.mu.Unlock()
	return slices.Clone(em.deadLetters)
}

// PendingEvents is the number of accepted Event invocations not yet done or
// dead-lettered: what Lambda's AsyncEventsReceived less the finished ones
// tells a client watching CloudWatch. A window of async work is complete
// when it is 0.
func (em *Emulator) PendingEvents() int {
	em.mu.Lock()
	defer em.mu.Unlock()
	return em.pending
}

type event struct {
	ref       functionRef
	id        string
	payload   []byte
	xray      string // the Invoke's X-Amzn-Trace-Id
	attempts  int
	lastError result
}

type eventQueue struct {
	events []*event
}

// enqueue accepts an Event invocation: it runs as soon as the function's concurrency
// allows, on the same environments as synchronous calls.
func (em *Emulator) enqueue(ref functionRef, payload []byte, rid, xray string) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	if em.closing {
		return ErrClosed
	}
	if _, _, err := em.resolveLocked(ref); err != nil {
		return err
	}
	f := em.functions[ref.Name]
	if f.queue == nil {
		f.queue = &eventQueue{}
		go em.dispatch(f)
	}
	f.queue.events = append(f.queue.events, &event{ref: ref, id: rid, payload: payload, xray: xray})
	em.pending++
	em.cond.Broadcast()
	return nil
}

// dispatch runs a function's queued events one after another as environments allow; each
// attempt runs on its own once delivered.
func (em *Emulator) dispatch(f *function) {
	em.mu.Lock()
	defer em.mu.Unlock()
	for {
		for len(f.queue.events) == 0 && !em.aborting && !f.deleted {
			em.cond.Wait()
		}
		if em.aborting {
			return // Close dead-letters what is left
		}
		if f.deleted {
			for _, ev := range f.queue.events {
				em.deadLetterLocked(ev, "the function was deleted before the event ran")
			}
			f.queue.events = nil
			return
		}
		ev := f.queue.events[0]
		f.queue.events = f.queue.events[1:]
		em.mu.Unlock()
		em.startEvent(ev)
		em.mu.Lock()
	}
}

// startEvent makes one attempt of ev, waiting while the function is at its concurrency.
func (em *Emulator) startEvent(ev *event) {
	for {
		em.mu.Lock()
		v, arn, err := em.resolveLocked(ev.ref)
		em.mu.Unlock()
		if err != nil {
			em.deadLetter(ev, fmt.Sprintf("attempt %d: %v", ev.attempts+1, err))
			return
		}
		inv := newInvocation(v, arn, ev.payload)
		inv.async, inv.xray = true, ev.xray
		err = em.attempt(context.Background(), inv)
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.Code == "TooManyRequestsException":
			// Lambda keeps throttled events and retries them; wait for an environment.
			em.mu.Lock()
			if !em.aborting {
				em.cond.Wait()
			}
			em.mu.Unlock()
			continue
		case err != nil:
			em.deadLetter(ev, fmt.Sprintf("attempt %d: %v", ev.attempts+1, err))
			return
		}
		go func() {
			<-inv.ended
			em.eventAttempted(ev, inv)
		}()
		return
	}
}

// eventAttempted schedules a retry after a function error, or ends the event.
func (em *Emulator) eventAttempted(ev *event, inv *invocation) {
	em.mu.Lock()
	defer em.mu.Unlock()
	ev.attempts++
	if inv.res.functionError == "" {
		em.pending--
		em.cond.Broadcast()
		return
	}
	ev.lastError = inv.res
	retries := em.opts.RetryDelays
	switch {
	case ev.attempts > len(retries):
		em.deadLetterLocked(ev, fmt.Sprintf("function error on all %d attempts", ev.attempts))
	case em.closing:
		em.deadLetterLocked(ev, fmt.Sprintf("the emulator closed before retry %d", ev.attempts))
	default:
		em.retries[ev] = time.AfterFunc(retries[ev.attempts-1], func() { em.retry(ev) })
	}
}

func (em *Emulator) retry(ev *event) {
	em.mu.Lock()
	defer em.mu.Unlock()
	if _, ok := em.retries[ev]; !ok {
		return // Close took it
	}
	delete(em.retries, ev)
	f, ok := em.functions[ev.ref.Name]
	if !ok || f.deleted || em.aborting {
		em.deadLetterLocked(ev, fmt.Sprintf("retry %d: function %s no longer exists", ev.attempts, ev.ref.Name))
		return
	}
	f.queue.events = append(f.queue.events, ev)
	em.cond.Broadcast()
}

func (em *Emulator) deadLetter(ev *event, reason string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	em.deadLetterLocked(ev, reason)
}

func (em *Emulator) deadLetterLocked(ev *event, reason string) {
	d := DeadLetter{Function: ev.ref.Name, Qualifier: ev.ref.Qualifier, RequestID: ev.id,
		Payload: ev.payload, Attempts: ev.attempts, Reason: reason, Time: time.Now()}
	if ev.lastError.functionError != "" {
		var e struct {
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(ev.lastError.payload, &e)
		d.ErrorType, d.ErrorMessage = ev.lastError.errorType, e.ErrorMessage
	}
	em.deadLetters = append(em.deadLetters, d)
	em.log.Warn("lambda: event dead-lettered", "function", d.Function, "request", d.RequestID, "attempts", d.Attempts, "reason", reason)
	em.pending--
	em.cond.Broadcast()
}
