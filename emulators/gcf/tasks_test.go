package gcf

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/emulators/tasks"
	"github.com/fusionize/fusionize/emulators/tasks/taskstest"
)

// enqueue starts a Cloud Tasks emulator (the queue async calls to Cloud
// Functions go through) with opts and creates a task for url on it, as a
// host's https transport does; it returns the emulator and the queue's URL.
func enqueue(t *testing.T, opts tasks.Options, url string) (*tasks.Emulator, string) {
	t.Helper()
	q := taskstest.Start(t, opts)
	queue := q.QueueURL("p", "us-east4", "q")
	if code := taskstest.CreateTask(t, queue, url, []byte("x")); code != http.StatusOK {
		t.Fatalf("CreateTask: %d", code)
	}
	return q, queue
}

func TestQueuedCallIsRetriedWithBackoffUntilTheFunctionAnswers(t *testing.T) {
	_, fn := sharedFunction(t, "work", "Work", nil)
	q, queue := enqueue(t, tasks.Options{MaxAttempts: 5, MinBackoff: 10 * time.Millisecond}, fn.Url+"?flaky=retry-then-ok&fails=2")
	waitFor(t, "the task delivered", func() bool { return q.Stats(queue).Delivered == 1 })
	if st := q.Stats(queue); st.Attempts != 3 || st.DeadLettered != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v: want 3 attempts (two 500s, then 200) and no dead letter", st)
	}
}

func TestQueuedCallThatKeepsFailingBecomesADeadLetter(t *testing.T) {
	_, fn := sharedFunction(t, "work", "Work", nil)
	q, queue := enqueue(t, tasks.Options{MaxAttempts: 3, MinBackoff: 5 * time.Millisecond}, fn.Url+"?flaky=always&fails=1000")
	waitFor(t, "the task dead-lettered", func() bool { return len(q.DeadLetters(queue)) == 1 })
	dead := q.DeadLetters(queue)[0]
	if dead.DispatchCount != 3 || dead.LastStatus != 500 || !strings.Contains(dead.LastError, "flaky always") {
		t.Fatalf("dead letter %+v: want 3 attempts, the function's 500 and its message", dead)
	}
}
