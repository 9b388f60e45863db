// Package taskstest serves a Cloud Tasks emulator on loopback for a test and
// creates tasks on it over its REST API, as a host's https transport does:
//
//	q := taskstest.Start(t, tasks.Options{MaxAttempts: 3})
//	queue := q.QueueURL("p", "us-east4", "q")
//	if code := taskstest.CreateTask(t, queue, fnURL, []byte(`{}`)); code != 200 { ... }
//
// The emulator is closed, and its deliveries stopped, when the test ends.
package taskstest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/fusionize/fusionize/emulators/tasks"
)

// Start serves an emulator with opts until the test ends.
func Start(t testing.TB, opts tasks.Options) *tasks.Emulator {
	t.Helper()
	q := tasks.New(opts)
	if err := q.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Errorf("tasks emulator: close: %v", err)
		}
	})
	return q
}

// CreateTask creates an HTTP task that POSTs body to target on the queue
// at queueURL and returns the status code of the answer.
func CreateTask(t testing.TB, queueURL, target string, body []byte) int {
	t.Helper()
	req, err := json.Marshal(map[string]any{"task": map[string]any{"httpRequest": map[string]any{
		"url": target, "body": body, "headers": map[string]string{"Content-Type": "application/json"}}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(queueURL+"/tasks", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}
