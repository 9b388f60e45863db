package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func moduleDirEntries(t *testing.T, st *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(st.modDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestPutModuleRefusesAndLeavesNothing(t *testing.T) {
	ctx := context.Background()
	body := []byte("\x00asm\x01\x00\x00\x00 some code")
	other := digestOf([]byte("other"))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		digest  string
		max     int64
		wantErr error
		wantMsg []string
	}{
		{"digest mismatch", ctx, other, 0, ErrDigestMismatch, []string{`"A"`, other, digestOf(body)}},
		{"too large", ctx, digestOf(body), 4, ErrTooLarge, []string{`"A"`}},
		{"bad digest", ctx, "sha256:XYZ", 0, ErrBadDigest, nil},
		{"cancelled", cancelled, digestOf(body), 0, context.Canceled, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openTest(t, t.TempDir(), Options{})
			_, err := st.PutModule(tc.ctx, "A", bytes.NewReader(body), tc.digest, tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %s", err, m)
				}
			}
			if names := moduleDirEntries(t, st); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
			if _, err := st.ModuleFor("A"); !errors.Is(err, ErrNotFound) {
				t.Errorf("ModuleFor after refusal: %v", err)
			}
			if mods, _ := st.ListModules(); len(mods) != 0 {
				t.Errorf("ListModules = %v", mods)
			}
		})
	}
}

func TestPutModuleIdempotentAndLatest(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, t.TempDir(), Options{})
	v1, v2 := []byte("version one"), []byte("version two")
	a, err := st.PutModule(ctx, "A", bytes.NewReader(v1), digestOf(v1), 100)
	if err != nil {
		t.Fatal(err)
	}
	again, err := st.PutModule(ctx, "A", bytes.NewReader(v1), "", 100)
	if err != nil || !reflect.DeepEqual(again, a) {
		t.Fatalf("second put = %+v, %v; want %+v", again, err, a)
	}
	if _, err := st.PutModule(ctx, "B", bytes.NewReader(v1), digestOf(v1), 0); err != nil {
		t.Fatal(err)
	}
	a2, err := st.PutModule(ctx, "A", bytes.NewReader(v2), digestOf(v2), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ModuleFor("A"); !reflect.DeepEqual(got, a2) {
		t.Errorf("ModuleFor(A) = %+v, want %+v", got, a2)
	}
	mods, err := st.ListModules()
	if err != nil || len(mods) != 2 || mods[0].Task != "A" || mods[1].Task != "B" || mods[1].Digest != a.Digest {
		t.Errorf("ListModules = %+v, %v", mods, err)
	}
	if names := moduleDirEntries(t, st); len(names) != 2 {
		t.Errorf("module files = %v, want 2 (content-addressed)", names)
	}
	rc, info, err := st.OpenModule(a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, v1) || info.Task != "A" || info.Size != int64(len(v1)) {
		t.Errorf("OpenModule = %q, %+v", got, info)
	}
}

func TestModuleLookupErrors(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{})
	if _, _, err := st.OpenModule("md5:abc"); !errors.Is(err, ErrBadDigest) {
		t.Errorf("OpenModule(bad) = %v", err)
	}
	if _, err := st.ModuleBytes(digestOf([]byte("x"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("ModuleBytes(unknown) = %v", err)
	}
	if _, err := st.ModuleFor("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ModuleFor(unknown) = %v", err)
	}
}

func TestCorruptionDetected(t *testing.T) {
	st := openTest(t, t.TempDir(), Options{})
	body := []byte("\x00asm\x01\x00\x00\x00 precious")
	info, err := st.PutModule(context.Background(), "A", bytes.NewReader(body), digestOf(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	path := st.modulePath(info.Digest)
	bad := bytes.Clone(body)
	bad[10] ^= 0xff
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = st.ModuleBytes(info.Digest)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("ModuleBytes of damaged file: %v, want ErrCorrupt naming %s", err, path)
	}
	// OpenModule does not verify, by contract.
	if rc, _, err := st.OpenModule(info.Digest); err != nil {
		t.Errorf("OpenModule: %v", err)
	} else {
		rc.Close()
	}
	os.Remove(path)
	if _, _, err := st.OpenModule(info.Digest); !errors.Is(err, ErrCorrupt) {
		t.Errorf("OpenModule of missing file: %v, want ErrCorrupt", err)
	}
	// Uploading the same bytes again repairs it.
	if _, err := st.PutModule(context.Background(), "A", bytes.NewReader(body), info.Digest, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ModuleBytes(info.Digest); err != nil {
		t.Errorf("after repair: %v", err)
	}
}

func TestOpenRemovesStrayUploads(t *testing.T) {
	dir := t.TempDir()
	st := openTest(t, dir, Options{})
	stray := filepath.Join(st.modDir, tmpPrefix+"123")
	os.WriteFile(stray, []byte("half"), 0o600)
	st.Close()
	openTest(t, dir, Options{})
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("stray upload survived Open: %v", err)
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:" + strings.Repeat("a", 64))
	f.Add(digestOf([]byte("x")))
	f.Add("sha256:" + strings.Repeat("A", 64))
	f.Add("sha256:")
	f.Add("sha512:00")
	f.Add("sha256:../../../../etc/passwd" + strings.Repeat("0", 37))
	f.Fuzz(func(t *testing.T, d string) {
		h, err := ParseDigest(d)
		if err != nil {
			if !errors.Is(err, ErrBadDigest) {
				t.Fatalf("error %v is not ErrBadDigest", err)
			}
			return
		}
		// Accepted digests are canonical and safe as file names.
		if d != "sha256:"+h || len(h) != 64 || strings.ContainsAny(h, "/\\.") || strings.ToLower(h) != h {
			t.Fatalf("accepted %q (hex %q)", d, h)
		}
	})
}
