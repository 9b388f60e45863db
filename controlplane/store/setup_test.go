package store

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
)

func TestApplySetupAssignsVersions(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{})
	if _, err := st.Setup(0); err == nil {
		t.Fatal("Setup(0) on empty store succeeded")
	}
	in := setup.Separate(42, []string{"A"}, setup.Place{Provider: "local"}, 128)
	v, err := st.ApplySetup(in)
	if err != nil || v != 1 || in.Version != 42 {
		t.Fatalf("ApplySetup = %d, %v (input version now %d)", v, err, in.Version)
	}
	if _, err := st.ApplySetup(&setup.Setup{Groups: []setup.Group{{Name: "x"}}}); err == nil {
		t.Fatal("invalid setup accepted")
	}
	if got, err := st.Setup(1); err != nil || got.Version != 1 {
		t.Fatalf("Setup(1) = %+v, %v", got, err)
	}
	if _, err := st.Setup(2); err == nil {
		t.Fatal("Setup(2) found")
	}
}

func TestWatchSetupWakes(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := st.WatchSetup(ctx, 0)
	select {
	case s := <-ch:
		t.Fatalf("got %+v before any apply", s)
	case <-time.After(20 * time.Millisecond):
	}
	for want := int64(1); want <= 3; want++ {
		if _, err := st.ApplySetup(setup.Separate(0, []string{"A", "B"}, setup.Place{Provider: "local"}, 128)); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-ch:
			if s.Version != want {
				t.Fatalf("woke with version %d, want %d", s.Version, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("watcher did not wake for version %d", want)
		}
	}
	// A late watcher sees the current version at once.
	late := st.WatchSetup(ctx, 1)
	if s := <-late; s.Version != 3 {
		t.Fatalf("late watcher got %d", s.Version)
	}
}

func TestWatchSetupEndsWithoutLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	st := openTest(t, t.TempDir(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var chans []<-chan *setup.Setup
	for range 50 {
		chans = append(chans, st.WatchSetup(ctx, 0))
	}
	other := st.WatchSetup(context.Background(), 0)
	st.ApplySetup(setup.Separate(0, []string{"A"}, setup.Place{}, 128)) // nobody reads: senders block
	cancel()
	for _, ch := range chans {
		for range ch { // drains at most one, then closed
		}
	}
	st.Close()
	for range other {
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines, %d before", n, before)
	}
}
