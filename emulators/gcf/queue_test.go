package gcf

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestQueueRetriesWithBackoffUntilDelivered(t *testing.T) {
	e, fn := sharedFunction(t, "work", "Work", nil)
	q, err := e.CreateQueue("retry-then-ok", QueueOptions{MaxAttempts: 5, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(Task{URL: fn.Url + "?flaky=retry-then-ok&fails=2", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task delivered", func() bool { return len(q.Delivered()) == 1 })
	if d := q.Delivered()[0]; d.Attempts != 3 || d.LastStatus != 200 || len(q.DeadLetters()) != 0 {
		t.Fatalf("delivered task %+v, dead letters %v", d, q.DeadLetters())
	}
}

func TestQueueDeadLettersTaskThatKeepsFailing(t *testing.T) {
	e, fn := sharedFunction(t, "work", "Work", nil)
	q, err := e.CreateQueue("always-fails", QueueOptions{MaxAttempts: 3, MinBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Enqueue over the emulator's HTTP endpoint, as a host would.
	body := `{"url": "` + fn.Url + `?flaky=always&fails=1000"}`
	resp, err := http.Post("http://"+e.HTTPAddr()+"/emulator/v1/queues/always-fails/tasks", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("enqueue: %v %v", resp, err)
	}
	resp.Body.Close()
	waitFor(t, "the task dead-lettered", func() bool { return len(q.DeadLetters()) == 1 })
	dead := q.DeadLetters()[0]
	if dead.Attempts != 3 || dead.LastStatus != 500 || !strings.Contains(dead.LastError, "flaky always") {
		t.Fatalf("dead letter %+v", dead)
	}
	resp, err = http.Get("http://" + e.HTTPAddr() + "/emulator/v1/queues/always-fails/dead-letters")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Tasks []Task `json:"tasks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Tasks) != 1 || list.Tasks[0].Name != dead.Name {
		t.Fatalf("dead letters over HTTP: %+v %v", list, err)
	}
}
