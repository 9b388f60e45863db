package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestValuesSurviveReopenPerApplication(t *testing.T) {
	dir := t.TempDir()
	st := openTest(t, dir, Options{})
	if err := st.PutValue("iot", "events/s-1/t", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := st.PutValue("iot", "events/s-1/t", []byte("second")); err != nil {
		t.Fatal(err)
	}
	if err := st.PutValue("iot", "empty", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.PutValue("webshop", "events/s-1/t", []byte("other app")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openTest(t, dir, Options{})
	for _, c := range []struct {
		app, key string
		want     []byte
		ok       bool
	}{
		{"iot", "events/s-1/t", []byte("second"), true},
		{"iot", "empty", []byte{}, true},
		{"webshop", "events/s-1/t", []byte("other app"), true},
		{"iot", "absent", nil, false},
		{"tree", "events/s-1/t", nil, false},
	} {
		got, ok, err := st.GetValue(c.app, c.key)
		if err != nil {
			t.Fatalf("%s %s: %v", c.app, c.key, err)
		}
		if ok != c.ok || !bytes.Equal(got, c.want) || (ok && got == nil) {
			t.Errorf("%s %s = %q, %v; want %q, %v", c.app, c.key, got, ok, c.want, c.ok)
		}
	}
}

func TestBadKeysAndLargeValuesAreRefusedNamingThem(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{NoSync: true})
	long := strings.Repeat("k", MaxKeySize+1)
	for _, c := range []struct {
		name, app, key string
		val            []byte
		want           error
		mention        string
	}{
		{"no app", "", "k", nil, ErrBadKey, "no application"},
		{"empty key", "iot", "", nil, ErrBadKey, "empty key"},
		{"long key", "iot", long, nil, ErrBadKey, "limit 1024"},
		{"not utf-8", "iot", "a\xffb", nil, ErrBadKey, "not UTF-8"},
		{"large value", "iot", "big", make([]byte, MaxValueSize+1), ErrTooLarge, `"big"`},
	} {
		err := st.PutValue(c.app, c.key, c.val)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: PutValue = %v, want %v mentioning %s", c.name, err, c.want, c.mention)
		}
		if c.val == nil {
			if _, _, err := st.GetValue(c.app, c.key); !errors.Is(err, c.want) {
				t.Errorf("%s: GetValue = %v, want %v", c.name, err, c.want)
			}
		}
	}
	if err := st.PutValue("iot", "max", make([]byte, MaxValueSize)); err != nil {
		t.Errorf("a value of exactly MaxValueSize: %v", err)
	}
}

func TestGetValueReturnsACopy(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{NoSync: true})
	if err := st.PutValue("iot", "k", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	v, _, err := st.GetValue("iot", "k")
	if err != nil {
		t.Fatal(err)
	}
	v[0] = 'X'
	if again, _, _ := st.GetValue("iot", "k"); string(again) != "abc" {
		t.Fatalf("stored value changed through a returned slice: %q", again)
	}
}

// A data directory written before the key-value store had its own database
// keeps its values: Open moves them into KVFile and out of DBFile.
func TestOpenMovesAnOldKeyValueBucketIntoItsOwnDatabase(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		kv, err := tx.CreateBucket(bucketKV)
		if err != nil {
			return err
		}
		for app, key := range map[string]string{"iot": "events/s-1/t", "webshop": "cart/42"} {
			b, err := kv.CreateBucket([]byte(app))
			if err != nil {
				return err
			}
			if err := b.Put([]byte(key), []byte("kept "+app)); err != nil {
				return err
			}
		}
		return nil
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}

	st := openTest(t, dir, Options{})
	for app, key := range map[string]string{"iot": "events/s-1/t", "webshop": "cart/42"} {
		got, ok, err := st.GetValue(app, key)
		if err != nil || !ok || string(got) != "kept "+app {
			t.Errorf("%s %s after the move = %q, %v, %v; want %q", app, key, got, ok, err, "kept "+app)
		}
	}
	err = st.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketKV) != nil {
			return errors.New("the old kv bucket is still in " + DBFile)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if err := st.PutValue("iot", "events/s-1/t", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openTest(t, dir, Options{}) // a second Open finds nothing to move
	if got, _, err := st.GetValue("iot", "events/s-1/t"); err != nil || string(got) != "new" {
		t.Errorf("after reopening: %q, %v; want \"new\"", got, err)
	}
}

// Concurrent puts share transactions (group commit) and every one of them
// is on disk when its PutValue returns: all read back after a reopen, in
// fewer transactions than puts.
func TestConcurrentPutsShareTransactionsAndAllSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	st := openTest(t, dir, Options{})
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := st.PutValue("iot", fmt.Sprintf("w%d/k%d", w, i), []byte(fmt.Sprintf("v%d.%d", w, i))); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	commits := st.kvCommits.Load()
	t.Logf("%d puts in %d transactions", writers*each, commits)
	if commits >= writers*each {
		t.Errorf("%d puts took %d transactions: concurrent puts shared none", writers*each, commits)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openTest(t, dir, Options{})
	for w := range writers {
		for i := range each {
			key, want := fmt.Sprintf("w%d/k%d", w, i), fmt.Sprintf("v%d.%d", w, i)
			v, ok, err := st.GetValue("iot", key)
			if err != nil || !ok || string(v) != want {
				t.Fatalf("after reopen, %s = %q, %v, %v; want %q", key, v, ok, err, want)
			}
		}
	}
}

// Close while writers put: every put either committed (and reads back
// after a reopen) or failed with ErrClosed; none hangs.
func TestCloseDuringPutsLosesNoAcknowledgedPut(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenWith(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var wg sync.WaitGroup
	acked := make([][]string, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d/k%d", w, i)
				err := st.PutValue("iot", key, []byte(key))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("put %s: %v", key, err)
					return
				}
				acked[w] = append(acked[w], key)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writers still blocked in PutValue 10 s after Close")
	}
	st = openTest(t, dir, Options{})
	n := 0
	for _, keys := range acked {
		for _, key := range keys {
			n++
			if v, ok, err := st.GetValue("iot", key); err != nil || !ok || string(v) != key {
				t.Fatalf("acknowledged put %s reads back %q, %v, %v", key, v, ok, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no put was acknowledged before Close")
	}
}
