package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/fusionize/fusionize/api/span"
	bolt "go.etcd.io/bbolt"
)

// Spans are keyed by 24 big-endian bytes:
//
//	setup version (8) | start, Unix ns (8) | sequence (8)
//
// with the sign bit of the first two flipped so negative values sort first.
// "The spans of version v" is then one range scan, in start order, and the
// oldest spans (for retention) are at the front. The sequence, from the
// bucket's persisted NextSequence, keeps equal (version, start) pairs apart.
//
// Values use a compact binary encoding (spanCodecV1: a format byte, a flags
// byte, varints, length-prefixed strings) rather than JSON. Measured
// (BENCHMARKS.store.md): ~28 ns vs ~940 ns to encode, ~84 ns with 0 allocs
// (interned strings) vs ~3.5 µs with 7 allocs to decode, 62 vs 317 bytes.
// Version and start live in the key only.
const spanKeyLen = 24

// spanCodecV1 is the first byte of every encoded span value.
const spanCodecV1 = 1

const (
	flagAsync = 1 << iota
	flagRemote
	flagCold
	flagZeroStart // Start was the zero time.Time; the key holds 0
	flagCount     // a varint Count follows the strings (values written before it have none: Count 0)
	flagCPU       // a varint CPU follows (after Count, when there is one); none means 0
)

// spanReadChunk is how many spans SpansSince decodes per read transaction:
// callbacks run outside transactions so a slow consumer never holds one.
const spanReadChunk = 1024

func appendSpanKey(dst []byte, version int64, start time.Time, seq uint64) []byte {
	var ns int64
	if !start.IsZero() {
		ns = start.UnixNano()
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(version)^(1<<63))
	dst = binary.BigEndian.AppendUint64(dst, uint64(ns)^(1<<63))
	return binary.BigEndian.AppendUint64(dst, seq)
}

func versionPrefix(version int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(version)^(1<<63))
}

// appendSpan encodes everything but SetupVersion and Start (kept in the key).
func appendSpan(dst []byte, s *span.Span) []byte {
	var flags byte
	if s.Async {
		flags |= flagAsync
	}
	if s.Remote {
		flags |= flagRemote
	}
	if s.Cold {
		flags |= flagCold
	}
	if s.Start.IsZero() {
		flags |= flagZeroStart
	}
	if s.Count != 0 {
		flags |= flagCount
	}
	if s.CPU != 0 {
		flags |= flagCPU
	}
	dst = append(dst, spanCodecV1, flags)
	dst = binary.AppendUvarint(dst, s.ID)
	dst = binary.AppendUvarint(dst, s.ParentID)
	dst = binary.AppendVarint(dst, int64(s.Duration))
	dst = binary.AppendVarint(dst, int64(s.Wait))
	dst = binary.AppendVarint(dst, int64(s.Billed))
	dst = binary.AppendVarint(dst, int64(s.MemoryMB))
	dst = binary.AppendVarint(dst, int64(s.InputBytes))
	dst = binary.AppendVarint(dst, int64(s.OutputBytes))
	for _, str := range [...]string{s.TraceID, s.Caller, s.Task, s.Group, s.Host, s.Err} {
		dst = binary.AppendUvarint(dst, uint64(len(str)))
		dst = append(dst, str...)
	}
	if s.Count != 0 {
		dst = binary.AppendVarint(dst, int64(s.Count))
	}
	if s.CPU != 0 {
		dst = binary.AppendVarint(dst, int64(s.CPU))
	}
	return dst
}

// spanDecoder decodes span values, interning repeated strings (task, group
// and host names, trace ids shared by a trace's spans) to save allocations.
type spanDecoder struct {
	strs map[string]string
}

const maxInterned = 4096

func (d *spanDecoder) str(b []byte) string {
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	if d.strs == nil || len(d.strs) >= maxInterned {
		d.strs = make(map[string]string, 64)
	}
	s := string(b)
	d.strs[s] = s
	return s
}

func (d *spanDecoder) decode(key, val []byte, out *span.Span) error {
	if len(key) != spanKeyLen {
		return fmt.Errorf("%w: span key of %d bytes", ErrCorrupt, len(key))
	}
	if len(val) < 2 || val[0] != spanCodecV1 {
		return fmt.Errorf("%w: span %x: unknown encoding", ErrCorrupt, key)
	}
	flags := val[1]
	p := val[2:]
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			bad = true
			return 0
		}
		p = p[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(p)
		if n <= 0 {
			bad = true
			return 0
		}
		p = p[n:]
		return v
	}
	bs := func() string {
		l := uv()
		if bad || l > uint64(len(p)) {
			bad = true
			return ""
		}
		if l == 0 {
			return ""
		}
		s := d.str(p[:l])
		p = p[l:]
		return s
	}
	*out = span.Span{
		SetupVersion: int64(binary.BigEndian.Uint64(key) ^ (1 << 63)),
		Async:        flags&flagAsync != 0,
		Remote:       flags&flagRemote != 0,
		Cold:         flags&flagCold != 0,
	}
	if flags&flagZeroStart == 0 {
		out.Start = time.Unix(0, int64(binary.BigEndian.Uint64(key[8:])^(1<<63)))
	}
	out.ID = uv()
	out.ParentID = uv()
	out.Duration = time.Duration(sv())
	out.Wait = time.Duration(sv())
	out.Billed = time.Duration(sv())
	out.MemoryMB = int(sv())
	out.InputBytes = int(sv())
	out.OutputBytes = int(sv())
	out.TraceID = bs()
	out.Caller = bs()
	out.Task = bs()
	out.Group = bs()
	out.Host = bs()
	out.Err = bs()
	if flags&flagCount != 0 {
		out.Count = int(sv())
	}
	if flags&flagCPU != 0 {
		out.CPU = time.Duration(sv())
	}
	if bad || len(p) != 0 {
		return fmt.Errorf("%w: span %x: malformed value", ErrCorrupt, key)
	}
	return nil
}

// AppendSpans stores a batch of spans in one transaction (one fsync), then
// enforces Options.MaxSpans by deleting the oldest spans in the same
// transaction. Hosts batch their spans; call this with batches, not singles.
func (s *Store) AppendSpans(spans []span.Span) error {
	if len(spans) == 0 {
		return s.check()
	}
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSpans)
		// Keys mostly grow; a fuller page split suits an append-mostly tree.
		b.FillPercent = 0.9
		seq := b.Sequence()
		if err := b.SetSequence(seq + uint64(len(spans))); err != nil {
			return err
		}
		// One buffer for all keys and values: bbolt keeps the slices until
		// commit, so they must not be reused within the transaction.
		type kv struct{ k, v []byte }
		kvs := make([]kv, len(spans))
		buf := make([]byte, 0, len(spans)*(spanKeyLen+96))
		for i := range spans {
			sp := &spans[i]
			start := len(buf)
			buf = appendSpanKey(buf, sp.SetupVersion, sp.Start, seq+uint64(i)+1)
			mid := len(buf)
			buf = appendSpan(buf, sp)
			kvs[i] = kv{buf[start:mid:mid], buf[mid:len(buf):len(buf)]}
		}
		// Sorted puts walk the tree once, left to right.
		slices.SortFunc(kvs, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		for _, e := range kvs {
			if err := b.Put(e.k, e.v); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		n := int64(binary.BigEndian.Uint64(meta.Get(keySpanCount))) + int64(len(spans))
		if over := n - s.maxSpans; over > 0 {
			del := make([][]byte, 0, over)
			c := b.Cursor()
			for k, _ := c.First(); k != nil && int64(len(del)) < over; k, _ = c.Next() {
				del = append(del, bytes.Clone(k))
			}
			for _, k := range del {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n -= int64(len(del))
		}
		return meta.Put(keySpanCount, u64(uint64(n)))
	})
	if err != nil {
		return fmt.Errorf("store: append %d spans: %w", len(spans), err)
	}
	return nil
}

// Spans returns the spans recorded under one setup version in start order,
// at most limit of them (limit <= 0: all).
func (s *Store) Spans(version int64, limit int) ([]span.Span, error) {
	var out []span.Span
	prefix := versionPrefix(version)
	var d spanDecoder
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSpans).Cursor()
		// Count first (keys only, cheap) so the result is allocated once:
		// a span.Span is ~200 bytes, and growing the slice by doubling
		// cost more than the decoding.
		n := 0
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && (limit <= 0 || n < limit); k, _ = c.Next() {
			n++
		}
		out = make([]span.Span, 0, n)
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < n; k, v = c.Next() {
			out = append(out, span.Span{})
			if err := d.decode(k, v, &out[len(out)-1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SpansSince calls fn for every span whose setup version is at least
// version, in (version, start) order, until fn returns an error, which
// SpansSince returns. Spans are read in chunks, each in its own short read
// transaction, and fn runs outside any transaction: spans appended or
// retired during the walk may or may not be seen.
func (s *Store) SpansSince(version int64, fn func(span.Span) error) error {
	seek := versionPrefix(version)
	chunk := make([]span.Span, 0, spanReadChunk)
	var d spanDecoder
	for {
		chunk = chunk[:0]
		var next []byte
		err := s.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketSpans).Cursor()
			k, v := c.Seek(seek)
			if len(seek) == spanKeyLen && k != nil && bytes.Equal(k, seek) {
				k, v = c.Next() // resume after the last key already delivered
			}
			for ; k != nil; k, v = c.Next() {
				if len(chunk) == spanReadChunk {
					break
				}
				chunk = append(chunk, span.Span{})
				if err := d.decode(k, v, &chunk[len(chunk)-1]); err != nil {
					return err
				}
				next = k
			}
			if next != nil {
				next = bytes.Clone(next)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, sp := range chunk {
			if err := fn(sp); err != nil {
				return err
			}
		}
		if len(chunk) < spanReadChunk {
			return nil
		}
		seek = next
	}
}

// SpanCount returns the number of stored spans.
func (s *Store) SpanCount() (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		n = int64(binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySpanCount)))
		return nil
	})
	return n, err
}

// SpanPage returns up to limit spans, newest first: of setup version
// version (of every version when it is 0), stored before the cursor after
// (nil: from the newest). next is the cursor of the following page, nil
// when no span is left. Reading page after page with the cursor returned
// sees every span that was stored when the first page was read, once.
func (s *Store) SpanPage(version int64, after []byte, limit int) (spans []span.Span, next []byte, err error) {
	if limit <= 0 {
		return nil, nil, nil
	}
	if after != nil && len(after) != spanKeyLen {
		return nil, nil, fmt.Errorf("%w: span cursor of %d bytes", ErrBadCursor, len(after))
	}
	var prefix []byte
	if version != 0 {
		prefix = versionPrefix(version)
	}
	inRange := func(k []byte) bool { return k != nil && (prefix == nil || bytes.HasPrefix(k, prefix)) }
	var d spanDecoder
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSpans).Cursor()
		// Start at the last key before the cursor: after, or the end of
		// the version's range, or the end of the bucket.
		var from []byte
		switch {
		case after != nil:
			from = after
		case prefix != nil && version != math.MaxInt64:
			from = versionPrefix(version + 1)
		}
		var k, v []byte
		if from == nil {
			k, v = c.Last()
		} else if k, _ = c.Seek(from); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		var last []byte
		for ; inRange(k); k, v = c.Prev() {
			if len(spans) == limit {
				next = bytes.Clone(last)
				return nil
			}
			spans = append(spans, span.Span{})
			if err := d.decode(k, v, &spans[len(spans)-1]); err != nil {
				return err
			}
			last = k
		}
		return nil
	})
	return spans, next, err
}
