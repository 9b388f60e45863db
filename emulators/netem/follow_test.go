package netem_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/emulators/netem"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Editing the followed file changes the network's round trips; a broken
// edit is logged naming the file and changes nothing; a fixed one applies.
func TestFollowAppliesEditsOfTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rtt.json")
	write := func(s string) {
		t.Helper()
		// A new size or time marks the edit; sizes differ here so a coarse
		// file clock cannot hide one.
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":10}]}`)
	table, err := netem.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n := netem.New(table, nil)
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		netem.Follow(ctx, path, 10*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)), n.Set)
	}()
	defer func() { cancel(); <-done }()
	between := func() time.Duration { return n.Delay("aws/us-east-1", "gcp/us-east4") }
	waitFor := func(want time.Duration) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for between() != want {
			if time.Now().After(deadline) {
				t.Fatalf("round trip %s, want %s; log:\n%s", between(), want, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if between() != 10*time.Millisecond {
		t.Fatalf("initial round trip %s", between())
	}
	write(`{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":250}]}`)
	waitFor(250 * time.Millisecond)

	write(`{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":-1}]} broken`)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "keeping the previous") {
		if time.Now().After(deadline) {
			t.Fatalf("a broken table was not reported; log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), path) {
		t.Errorf("the warning does not name the file: %s", logs.String())
	}
	if between() != 250*time.Millisecond {
		t.Fatalf("a broken edit changed the round trip to %s", between())
	}
	write(`{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":5}]}`)
	waitFor(5 * time.Millisecond)
}
