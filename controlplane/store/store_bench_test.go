package store

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/span"
	bolt "go.etcd.io/bbolt"
)

// Reproduce: go test -run '^$' -bench . -benchtime 2s ./controlplane/store/

func benchBatch(version int64, n, base int) []span.Span {
	batch := make([]span.Span, n)
	for i := range batch {
		batch[i] = testSpan(version, base+i)
		batch[i].TraceID = fmt.Sprintf("%032x", (base+i)/5) // 5 spans per trace
	}
	return batch
}

// BenchmarkAppendSpans writes 1,000-span batches, with fsync (sync) and
// without (nosync), into a store that already holds the earlier batches.
func BenchmarkAppendSpans(b *testing.B) {
	for _, sync := range []bool{true, false} {
		name := "nosync"
		if sync {
			name = "sync"
		}
		b.Run(name+"/batch=1000", func(b *testing.B) {
			st, err := OpenWith(b.TempDir(), Options{NoSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			batches := make([][]span.Span, 16)
			for i := range batches {
				batches[i] = benchBatch(1, 1000, i*1000)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				batch := batches[i%len(batches)]
				if i >= len(batches) { // later starts, as live traffic has
					for j := range batch {
						batch[j].Start = batch[j].Start.Add(time.Duration(len(batches)) * time.Millisecond)
					}
				}
				if err := st.AppendSpans(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/span")
		})
	}
}

// BenchmarkSpans reads one version's spans out of a store holding 10
// versions of n spans each.
func BenchmarkSpans(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
			st, err := OpenWith(b.TempDir(), Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			for v := int64(1); v <= 10; v++ {
				for off := 0; off < n; off += 1000 {
					if err := st.AppendSpans(benchBatch(v, 1000, off)); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				got, err := st.Spans(5, 0)
				if err != nil || len(got) != n {
					b.Fatal(len(got), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/span")
		})
	}
}

// BenchmarkSpanCodec compares the stored binary encoding with JSON, the
// alternative considered.
func BenchmarkSpanCodec(b *testing.B) {
	s := benchBatch(1, 1, 7)[0]
	key := appendSpanKey(nil, s.SetupVersion, s.Start, 1)
	bin := appendSpan(nil, &s)
	js, _ := json.Marshal(s)
	b.Run("binary/encode", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 256)
		for b.Loop() {
			buf = appendSpan(buf[:0], &s)
		}
		b.ReportMetric(float64(len(bin)), "bytes")
	})
	b.Run("json/encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&s); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(js)), "bytes")
	})
	b.Run("binary/decode", func(b *testing.B) {
		b.ReportAllocs()
		var d spanDecoder
		var out span.Span
		for b.Loop() {
			if err := d.decode(key, bin, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json/decode", func(b *testing.B) {
		b.ReportAllocs()
		var out span.Span
		for b.Loop() {
			if err := json.Unmarshal(js, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPutValueBesideSpans times a task's durable key-value write while
// another goroutine appends 100-span batches in a loop, as the control plane
// does when every function invocation flushes its spans. kv-db is the store's
// own layout (KVFile); shared-db, the baseline, is the same write into the
// spans' database, the layout before KVFile, where bbolt's single writer
// queues the put behind each span batch's commit. alone is the put with no
// span writer.
func BenchmarkPutValueBesideSpans(b *testing.B) {
	spansDB := func(st *Store) *bolt.DB { return st.db }
	for _, c := range []struct {
		name  string
		spans bool
		own   func(*Store) *bolt.DB
	}{{"alone", false, nil}, {"kv-db", true, nil}, {"shared-db", true, spansDB}} {
		b.Run(c.name, func(b *testing.B) {
			st, put := benchPut(b, c.own)
			stop, done := make(chan struct{}), make(chan error, 1)
			if c.spans {
				go func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							done <- nil
							return
						default:
						}
						if err := st.AppendSpans(benchBatch(1, 100, i*100)); err != nil {
							done <- err
							return
						}
					}
				}()
			} else {
				close(done)
			}
			val := make([]byte, 256)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := put(fmt.Sprintf("events/s-%d/t", i%64), val); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if c.spans {
				close(stop)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPutValueConcurrent times a task's durable key-value write with
// eight writers at once, as the invocations of a fused IoT group put seven
// values each: group is PutValue (the puts that arrive while one commits
// share the next transaction), txn-per-put the baseline, one bbolt
// transaction (and its fsync) per put, the store before group commit.
// ns/op is wall time per put over all writers; µs/put is the latency one
// writer sees.
func BenchmarkPutValueConcurrent(b *testing.B) {
	kvDB := func(st *Store) *bolt.DB { return st.kv }
	for _, c := range []struct {
		name string
		own  func(*Store) *bolt.DB
	}{{"group", nil}, {"txn-per-put", kvDB}} {
		b.Run(c.name, func(b *testing.B) {
			_, put := benchPut(b, c.own)
			val := make([]byte, 256)
			var n atomic.Int64
			var lat atomic.Int64
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // eight writers
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					t0 := time.Now()
					if err := put(fmt.Sprintf("events/s-%d/t", i%64), val); err != nil {
						b.Error(err)
						return
					}
					lat.Add(int64(time.Since(t0)))
				}
			})
			if k := n.Load(); k > 0 {
				b.ReportMetric(float64(lat.Load())/float64(k)/1e3, "µs/put")
			}
		})
	}
}

// benchPut opens a durable store for b and returns it with the put to
// time: PutValue, or with own, a baseline's transaction per put into the
// database own picks.
func benchPut(b *testing.B, own func(*Store) *bolt.DB) (*Store, func(key string, val []byte) error) {
	st, err := OpenWith(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if own != nil {
		db := own(st)
		return st, func(key string, val []byte) error { return putInOwnTxn(db, key, val) }
	}
	return st, func(key string, val []byte) error { return st.PutValue("iot", key, val) }
}

// putInOwnTxn is the baselines' put: one bbolt transaction of db for one
// value, in the key-value layout (bucket "kv", application "iot").
func putInOwnTxn(db *bolt.DB, key string, val []byte) error {
	return db.Update(func(tx *bolt.Tx) error {
		kv, err := tx.CreateBucketIfNotExists(bucketKV)
		if err != nil {
			return err
		}
		bk, err := kv.CreateBucketIfNotExists([]byte("iot"))
		if err != nil {
			return err
		}
		return bk.Put([]byte(key), val)
	})
}
