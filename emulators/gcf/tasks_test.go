package gcf

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/emulators/tasks"
)

// newQueue starts a Cloud Tasks emulator, the queue async calls to Cloud
// Functions go through, and returns it with one queue's URL.
func newQueue(t *testing.T, opts tasks.Options) (*tasks.Emulator, string) {
	t.Helper()
	q := tasks.New(opts)
	if err := q.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q, q.QueueURL("p", "us-east4", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
}

// enqueue creates a task for url over the queue's REST API, as a host's
// https transport does.
func enqueue(t *testing.T, queue, url string, body []byte) {
	t.Helper()
	req, err := json.Marshal(map[string]any{"task": map[string]any{"httpRequest": map[string]any{"url": url, "body": body}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(queue+"/tasks", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CreateTask: %s", resp.Status)
	}
}

func TestQueuedCallIsRetriedWithBackoffUntilTheFunctionAnswers(t *testing.T) {
	_, fn := sharedFunction(t, "work", "Work", nil)
	q, queue := newQueue(t, tasks.Options{MaxAttempts: 5, MinBackoff: 10 * time.Millisecond})
	enqueue(t, queue, fn.Url+"?flaky=retry-then-ok&fails=2", []byte("x"))
	waitFor(t, "the task delivered", func() bool { return q.Stats(queue).Delivered == 1 })
	if st := q.Stats(queue); st.Attempts != 3 || st.DeadLettered != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v: want 3 attempts (two 500s, then 200) and no dead letter", st)
	}
}

func TestQueuedCallThatKeepsFailingBecomesADeadLetter(t *testing.T) {
	_, fn := sharedFunction(t, "work", "Work", nil)
	q, queue := newQueue(t, tasks.Options{MaxAttempts: 3, MinBackoff: 5 * time.Millisecond})
	enqueue(t, queue, fn.Url+"?flaky=always&fails=1000", []byte("x"))
	waitFor(t, "the task dead-lettered", func() bool { return len(q.DeadLetters(queue)) == 1 })
	dead := q.DeadLetters(queue)[0]
	if dead.DispatchCount != 3 || dead.LastStatus != 500 || !strings.Contains(dead.LastError, "flaky always") {
		t.Fatalf("dead letter %+v: want 3 attempts, the function's 500 and its message", dead)
	}
}
