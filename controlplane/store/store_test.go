package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
)

func openTest(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	opts.NoSync = true
	st, err := OpenWith(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func testSpan(version int64, i int) span.Span {
	return span.Span{
		TraceID: "trace-" + string(rune('a'+i%26)), ID: uint64(i + 1), ParentID: uint64(i),
		Caller: "A", Task: "B", Async: i%2 == 0, Remote: i%3 == 0, Group: "A+B", Host: "h1",
		SetupVersion: version, Start: time.Unix(1700000000, int64(i)*1000),
		Duration: time.Duration(i) * time.Microsecond, Wait: time.Microsecond, Billed: time.Millisecond,
		MemoryMB: 128, Cold: i%5 == 0, InputBytes: 100 + i, OutputBytes: 200,
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := OpenWith(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	wasm := []byte("\x00asm\x01\x00\x00\x00 module A")
	info, err := st.PutModule(ctx, "A", bytes.NewReader(wasm), digestOf(wasm), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	s1 := setup.Separate(99, []string{"A", "B"}, setup.Place{Provider: "local"}, 128)
	s2 := setup.Fused(0, "AB", []string{"A", "B"}, setup.Place{Provider: "aws", Region: "us-east-1"}, 256)
	for i, su := range []*setup.Setup{s1, s2} {
		v, err := st.ApplySetup(su)
		if err != nil || v != int64(i+1) {
			t.Fatalf("ApplySetup #%d = %d, %v", i, v, err)
		}
	}
	var spans []span.Span
	for i := range 10 {
		spans = append(spans, testSpan(2, i))
	}
	if err := st.AppendSpans(spans); err != nil {
		t.Fatal(err)
	}
	it := api.Iteration{Index: 1, Setup: s2, P50Ms: 1.5, P95Ms: 9, CostPerMillionUSD: 3.2, Decision: "keep", Note: "fused", DeployedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := st.AppendIteration(it); err != nil {
		t.Fatal(err)
	}
	tok, err := st.Token()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openTest(t, dir, Options{})
	if v, _ := st.CurrentVersion(); v != 2 {
		t.Errorf("CurrentVersion = %d, want 2", v)
	}
	cur, err := st.Setup(0)
	if err != nil || cur.Partition() != "(A,B)" || cur.Version != 2 || cur.Groups[0].Place.Region != "us-east-1" {
		t.Errorf("Setup(0) = %+v, %v", cur, err)
	}
	hist, err := st.Setups()
	if err != nil || len(hist) != 2 || hist[0].Version != 1 || hist[0].Partition() != "(A) (B)" {
		t.Errorf("Setups = %+v, %v", hist, err)
	}
	got, err := st.ModuleFor("A")
	if err != nil || !reflect.DeepEqual(got, info) {
		t.Errorf("ModuleFor = %+v, %v; want %+v", got, err, info)
	}
	b, err := st.ModuleBytes(info.Digest)
	if err != nil || !bytes.Equal(b, wasm) {
		t.Errorf("ModuleBytes = %q, %v", b, err)
	}
	gotSpans, err := st.Spans(2, 0)
	if err != nil || len(gotSpans) != 10 {
		t.Fatalf("Spans = %d, %v", len(gotSpans), err)
	}
	for i := range spans {
		if !spanEqual(gotSpans[i], spans[i]) {
			t.Errorf("span %d = %+v, want %+v", i, gotSpans[i], spans[i])
		}
	}
	if n, _ := st.SpanCount(); n != 10 {
		t.Errorf("SpanCount = %d", n)
	}
	its, err := st.Iterations()
	if err != nil || len(its) != 1 || !reflect.DeepEqual(its[0], it) {
		t.Errorf("Iterations = %+v, %v; want %+v", its, err, it)
	}
	if tok2, err := st.Token(); err != nil || tok2 != tok {
		t.Errorf("Token after restart = %q, %v; want %q", tok2, err, tok)
	}
}

func spanEqual(a, b span.Span) bool {
	if !a.Start.Equal(b.Start) {
		return false
	}
	a.Start, b.Start = time.Time{}, time.Time{}
	return a == b
}

func TestSecondOpenTimesOutNamingPath(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, Options{})
	_, err := OpenWith(dir, Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), filepath.Join(dir, DBFile)) {
		t.Fatalf("second Open: %v, want ErrLocked naming the path", err)
	}
}

func TestOpenCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data")
	openTest(t, dir, Options{})
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
}

func TestClosedStoreReturnsErrClosed(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checks := map[string]error{}
	_, checks["CurrentVersion"] = st.CurrentVersion()
	_, checks["Setup"] = st.Setup(0)
	_, checks["ApplySetup"] = st.ApplySetup(setup.Separate(0, []string{"A"}, setup.Place{}, 1))
	checks["AppendSpans"] = st.AppendSpans([]span.Span{testSpan(1, 1)})
	_, checks["Spans"] = st.Spans(1, 0)
	_, checks["PutModule"] = st.PutModule(context.Background(), "A", strings.NewReader("x"), "", 0)
	_, checks["Token"] = st.Token()
	checks["AppendIteration"] = st.AppendIteration(api.Iteration{})
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func TestTokenIsStableAndPrivate(t *testing.T) {
	dir := t.TempDir()
	st := openTest(t, dir, Options{})
	a, err := st.Token()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := st.Token()
	if a != b || len(a) != 64 {
		t.Fatalf("tokens %q, %q", a, b)
	}
	fi, err := os.Stat(filepath.Join(dir, TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token mode = %v, %v", fi.Mode().Perm(), err)
	}
	os.Chmod(filepath.Join(dir, TokenFile), 0o644)
	if _, err := st.Token(); err == nil {
		t.Fatal("world-readable token file accepted")
	}
}

func TestInvokeTokenIsItsOwnStablePrivateToken(t *testing.T) {
	dir := t.TempDir()
	st := openTest(t, dir, Options{})
	inv, err := st.InvokeToken()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := st.Token()
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != 64 || inv == cp {
		t.Fatalf("invoke token %q, control-plane token %q", inv, cp)
	}
	if again, err := st.InvokeToken(); err != nil || again != inv {
		t.Fatalf("second InvokeToken = %q, %v; want %q", again, err, inv)
	}
	path := filepath.Join(dir, InvokeTokenFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("invoke token mode = %v, %v", fi.Mode().Perm(), err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := st.InvokeToken(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("group-readable invoke token file: %v, want an error naming %s", err, path)
	}
}

func TestIterationsKeepOrder(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{})
	for i := range 5 {
		if err := st.AppendIteration(api.Iteration{Index: i, Decision: "keep"}); err != nil {
			t.Fatal(err)
		}
	}
	its, err := st.Iterations()
	if err != nil || len(its) != 5 {
		t.Fatalf("Iterations = %v, %v", its, err)
	}
	for i, it := range its {
		if it.Index != i {
			t.Errorf("its[%d].Index = %d", i, it.Index)
		}
	}
}

func TestHostsRegistryKeepsLastSeen(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{})
	old := time.Now().Add(-time.Hour)
	st.SeeHost(api.HostInfo{Name: "b", LastSeen: old})
	st.SeeHost(api.HostInfo{Name: "a", Group: "A"})
	if hs := st.Hosts(time.Time{}); len(hs) != 2 || hs[0].Name != "a" || hs[0].LastSeen.IsZero() {
		t.Fatalf("Hosts = %+v", hs)
	}
	if hs := st.Hosts(time.Now().Add(-time.Minute)); len(hs) != 1 || hs[0].Name != "a" {
		t.Fatalf("recent Hosts = %+v", hs)
	}
	st.ForgetHost("a")
	if hs := st.Hosts(time.Time{}); len(hs) != 1 || !hs[0].LastSeen.Equal(old) {
		t.Fatalf("Hosts after forget = %+v", hs)
	}
}
