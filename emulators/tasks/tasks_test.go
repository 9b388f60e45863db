package tasks_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/emulators/tasks"
	"github.com/fusionize/fusionize/emulators/tasks/taskstest"
)

func newQueue(t *testing.T, opts tasks.Options) (*tasks.Emulator, string) {
	t.Helper()
	q := taskstest.Start(t, opts)
	return q, q.QueueURL("p", "us-east4", "q")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("never: %s", what)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func TestFailedDeliveryIsRetriedUntilItSucceeds(t *testing.T) {
	var mu sync.Mutex
	var retries []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		retries = append(retries, r.Header.Get("X-CloudTasks-TaskRetryCount"))
		if len(retries) < 3 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
		}
	}))
	defer target.Close()
	q, queue := newQueue(t, tasks.Options{MaxAttempts: 5, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	if code := taskstest.CreateTask(t, queue, target.URL, []byte(`{}`)); code != http.StatusOK {
		t.Fatalf("CreateTask: %d", code)
	}
	waitFor(t, "delivered", func() bool { return q.Stats(queue).Delivered == 1 })
	st := q.Stats(queue)
	if st.Attempts != 3 || st.DeadLettered != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v, want 3 attempts and no dead letter", st)
	}
	if n := q.Pending(); n != 0 {
		t.Errorf("Pending() = %d after the only task was delivered", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"0", "1", "2"}; len(retries) != 3 || retries[0] != want[0] || retries[2] != want[2] {
		t.Fatalf("X-CloudTasks-TaskRetryCount %q, want %q", retries, want)
	}
}

func TestTaskOutOfAttemptsBecomesADeadLetter(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "always failing", http.StatusInternalServerError)
	}))
	defer target.Close()
	q, queue := newQueue(t, tasks.Options{MaxAttempts: 2, MinBackoff: time.Millisecond})
	if code := taskstest.CreateTask(t, queue, target.URL, []byte(`{"n":1}`)); code != http.StatusOK {
		t.Fatalf("CreateTask: %d", code)
	}
	waitFor(t, "dead letter", func() bool { return len(q.DeadLetters(queue)) == 1 })
	d := q.DeadLetters(queue)[0]
	if d.DispatchCount != 2 || d.LastStatus != 500 || string(d.HTTPRequest.Body) != `{"n":1}` || d.HTTPRequest.URL != target.URL {
		t.Fatalf("dead letter %+v", d)
	}
	resp, err := http.Get(q.URL() + "/emulator/v1/deadletters?queue=" + tasks.QueueName("p", "us-east4", "q"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Emulated    bool               `json:"emulated"`
		DeadLetters []tasks.DeadLetter `json:"deadLetters"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || !got.Emulated || len(got.DeadLetters) != 1 || got.DeadLetters[0].Name != d.Name {
		t.Fatalf("GET deadletters: %+v, %v", got, err)
	}
}

func TestCreateTaskRefusesWhatCloudTasksRefuses(t *testing.T) {
	_, queue := newQueue(t, tasks.Options{})
	for name, target := range map[string]string{"NoURL": "", "NotHTTP": "ftp://x/"} {
		if code := taskstest.CreateTask(t, queue, target, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, code)
		}
	}
	if code := taskstest.CreateTask(t, queue, "http://127.0.0.1:1/", make([]byte, 1<<20+1)); code != http.StatusBadRequest {
		t.Errorf("task over 1 MB: %d, want 400", code)
	}
}

func TestCreateTaskFromAnotherPlaceWaitsTheRoundTrip(t *testing.T) {
	const rttMs = 100
	table := rtt.Zero()
	table.Links = []rtt.Link{{A: "aws/us-east-1", B: "gcp/us-east4", RTTMs: rttMs}}
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	q, queue := newQueue(t, tasks.Options{RTT: &table})
	body, err := json.Marshal(map[string]any{"task": map[string]any{"httpRequest": map[string]any{"url": target.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, queue+"/tasks", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(rtt.CallerPlaceHeader, "aws/us-east-1")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if el := time.Since(start); resp.StatusCode != http.StatusOK || el < rttMs*time.Millisecond {
		t.Fatalf("CreateTask from aws/us-east-1: %s after %v, want 200 after at least the %d ms round trip", resp.Status, el, rttMs)
	}
	waitFor(t, "delivered", func() bool { return q.Stats(queue).Delivered == 1 })
}
