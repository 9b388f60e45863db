package store

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/span"
)

func TestSpanCodecRoundTrip(t *testing.T) {
	cases := map[string]span.Span{
		"full":            testSpan(3, 7),
		"zero":            {},
		"negative fields": {SetupVersion: -1, Start: time.Unix(-5, 3), Duration: -1, MemoryMB: -2, Err: "boom"},
		"unicode":         {Task: "タスク", Caller: "ä", Host: string([]byte{0, 255}), Start: time.Unix(0, 1)},
		"an aggregate":    {Caller: "A", Task: "B", Duration: time.Microsecond, Count: 63, Start: time.Unix(0, 1)},
		"an entry's CPU":  {Task: "A", Duration: time.Millisecond, CPU: 734 * time.Microsecond, Start: time.Unix(0, 1)},
		"CPU and count":   {Caller: "A", Task: "B", Count: 2, CPU: time.Second, Start: time.Unix(0, 1)},
	}
	var d spanDecoder
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			k := appendSpanKey(nil, in.SetupVersion, in.Start, 9)
			v := appendSpan(nil, &in)
			var out span.Span
			if err := d.decode(k, v, &out); err != nil {
				t.Fatal(err)
			}
			if !spanEqual(in, out) || in.Start.IsZero() != out.Start.IsZero() {
				t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
			}
		})
	}
}

// A value written before spans had a count decodes with Count 0 (one call).
func TestSpanWithoutCountDecodesAsOneCall(t *testing.T) {
	in := span.Span{Task: "B", Count: 1}
	v := appendSpan(nil, &in)
	var d spanDecoder
	var out span.Span
	if err := d.decode(appendSpanKey(nil, 0, time.Time{}, 1), v, &out); err != nil || out.Count != 1 {
		t.Fatalf("with a count: %+v, %v", out, err)
	}
	in.Count = 0
	old := appendSpan(nil, &in)
	if old[1]&flagCount != 0 {
		t.Fatalf("a span of Count 0 is written with the count flag")
	}
	if err := d.decode(appendSpanKey(nil, 0, time.Time{}, 1), old, &out); err != nil || out.Count != 0 || out.Calls() != 1 {
		t.Fatalf("without a count: %+v, %v", out, err)
	}
}

func FuzzDecodeSpan(f *testing.F) {
	s := testSpan(1, 3)
	f.Add(appendSpanKey(nil, 1, s.Start, 1), appendSpan(nil, &s))
	f.Add(make([]byte, 24), []byte{1, 0})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		var d spanDecoder
		var out span.Span
		if err := d.decode(k, v, &out); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", err)
		}
	})
}

func TestSpansByVersionInStartOrder(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{})
	var batch []span.Span
	for i := 9; i >= 0; i-- { // out of order on purpose
		for _, v := range []int64{1, 2, 3} {
			batch = append(batch, testSpan(v, i))
		}
	}
	if err := st.AppendSpans(batch); err != nil {
		t.Fatal(err)
	}
	got, err := st.Spans(2, 0)
	if err != nil || len(got) != 10 {
		t.Fatalf("Spans(2) = %d, %v", len(got), err)
	}
	for i, s := range got {
		if s.SetupVersion != 2 || s.ID != uint64(i+1) {
			t.Errorf("span %d: version %d id %d", i, s.SetupVersion, s.ID)
		}
	}
	if got, _ := st.Spans(2, 3); len(got) != 3 {
		t.Errorf("Spans(2, 3) = %d spans", len(got))
	}
	if got, _ := st.Spans(4, 0); len(got) != 0 {
		t.Errorf("Spans(4) = %d spans", len(got))
	}
	var since []int64
	if err := st.SpansSince(2, func(s span.Span) error { since = append(since, s.SetupVersion); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(since) != 20 || since[0] != 2 || since[19] != 3 {
		t.Errorf("SpansSince(2) versions = %v", since)
	}
	stop := errors.New("stop")
	n := 0
	if err := st.SpansSince(0, func(span.Span) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	}); err != stop || n != 5 {
		t.Errorf("SpansSince stop: %v after %d", err, n)
	}
}

func TestSpansSinceCrossesChunks(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{})
	const total = 3*spanReadChunk + 17
	batch := make([]span.Span, total)
	for i := range batch {
		batch[i] = testSpan(1, i)
	}
	if err := st.AppendSpans(batch); err != nil {
		t.Fatal(err)
	}
	i := 0
	err := st.SpansSince(1, func(s span.Span) error {
		if s.ID != uint64(i+1) {
			t.Fatalf("span %d has ID %d", i, s.ID)
		}
		i++
		return nil
	})
	if err != nil || i != total {
		t.Fatalf("SpansSince delivered %d of %d: %v", i, total, err)
	}
}

func TestSpanRetentionDeletesOldest(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{MaxSpans: 25})
	for v := int64(1); v <= 4; v++ {
		batch := make([]span.Span, 10)
		for i := range batch {
			batch[i] = testSpan(v, i)
		}
		if err := st.AppendSpans(batch); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := st.SpanCount(); n != 25 {
		t.Fatalf("SpanCount = %d, want 25", n)
	}
	for v, want := range map[int64]int{1: 0, 2: 5, 3: 10, 4: 10} {
		got, _ := st.Spans(v, 0)
		if len(got) != want {
			t.Errorf("version %d keeps %d spans, want %d", v, len(got), want)
		}
	}
	if got, _ := st.Spans(2, 1); len(got) == 1 && got[0].ID != 6 {
		t.Errorf("oldest kept span of version 2 has ID %d, want 6", got[0].ID)
	}
}

func TestAppendSpansHammer(t *testing.T) {
	dir := t.TempDir()
	st := openTest(t, dir, Options{})
	const workers, batches, per = 8, 20, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				batch := make([]span.Span, per)
				for i := range batch {
					batch[i] = testSpan(int64(w%3+1), i) // same (version, start) across workers
					batch[i].ID = uint64(w*batches*per + b*per + i)
				}
				if err := st.AppendSpans(batch); err != nil {
					errs <- err
					return
				}
				if _, err := st.Spans(int64(w%3+1), 10); err != nil { // readers alongside
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = workers * batches * per
	if n, _ := st.SpanCount(); n != total {
		t.Fatalf("SpanCount = %d, want %d", n, total)
	}
	seen := make(map[uint64]bool, total)
	st.SpansSince(0, func(s span.Span) error { seen[s.ID] = true; return nil })
	if len(seen) != total {
		t.Fatalf("%d distinct spans stored, want %d", len(seen), total)
	}
}
