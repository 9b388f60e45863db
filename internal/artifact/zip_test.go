package artifact

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestSameInputsGiveSameBytes(t *testing.T) {
	a := []File{{Name: "bootstrap", Mode: 0o755, Data: []byte("#!bin")}, {Name: "modules/I.wasm", Data: []byte("\x00asm")}}
	b := []File{a[1], a[0]} // order of the inputs does not matter
	var wa, wb bytes.Buffer
	ia, err := Zip(&wa, a)
	if err != nil {
		t.Fatal(err)
	}
	ib, err := Zip(&wb, b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wa.Bytes(), wb.Bytes()) || ia != ib {
		t.Fatalf("different archives for the same files: %+v vs %+v", ia, ib)
	}
	if ia.Size != int64(wa.Len()) || ia.Files != 2 || len(ia.SHA256) != 64 {
		t.Fatalf("info %+v does not describe the %d-byte archive", ia, wa.Len())
	}
}

func TestArchiveKeepsContentAndModes(t *testing.T) {
	var w bytes.Buffer
	if _, err := Zip(&w, []File{{Name: "bootstrap", Mode: 0o755, Data: []byte("exe")}, {Name: "setup.json", Data: []byte("{}")}}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(w.Bytes()), int64(w.Len()))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		mode uint32
		data string
	}{"bootstrap": {0o755, "exe"}, "setup.json": {0o644, "{}"}}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[f.Name]
		if !ok || uint32(f.Mode().Perm()) != w.mode || string(data) != w.data {
			t.Errorf("%s: mode %v data %q", f.Name, f.Mode(), data)
		}
	}
}

func TestBadNamesAreRefused(t *testing.T) {
	for _, name := range []string{"", "/etc/passwd", "../x", "a/../b", "a//b", "a\\b", ".", "x"} {
		files := []File{{Name: name}}
		if name == "x" {
			files = append(files, File{Name: "x"})
		}
		if _, err := Zip(io.Discard, files); !errors.Is(err, ErrBadName) {
			t.Errorf("%q: err = %v, want ErrBadName", name, err)
		}
	}
}
