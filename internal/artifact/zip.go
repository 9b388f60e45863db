// Package artifact writes the zip files that adapters upload to a platform:
// a Lambda deployment package, a Cloud Functions source archive. The same
// inputs give the same bytes: entries are sorted by name, every timestamp is
// fixed and no owner or extra field is written, so an artifact's SHA-256
// names its content and a redeploy of unchanged inputs uploads nothing new.
//
//	info, err := artifact.Zip(w, []artifact.File{
//		{Name: "bootstrap", Mode: 0o755, Data: bin},
//		{Name: "modules/I.wasm", Mode: 0o644, Data: wasm},
//	})
//	fmt.Println(info.SHA256, info.Size)
package artifact

import (
	"archive/zip"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File is one entry of an artifact.
type File struct {
	Name string      // slash-separated path inside the archive, no leading slash
	Mode fs.FileMode // permission bits; 0 means 0644
	Data []byte
}

// Info describes a written artifact.
type Info struct {
	SHA256 string // hex digest of the whole archive
	Size   int64  // bytes
	Files  int
}

// epoch is the fixed modification time of every entry: the zip format's
// earliest representable date, so no build time leaks into the archive.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrBadName is wrapped by Zip for an entry name that is empty, absolute,
// not clean or repeated.
var ErrBadName = errors.New("artifact: bad entry name")

// Zip writes files to w as a deterministic zip archive and reports its
// digest and size. Names are checked: they must be clean relative slash
// paths, each used once.
func Zip(w io.Writer, files []File) (Info, error) {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b File) int { return cmp.Compare(a.Name, b.Name) })
	for i, f := range sorted {
		if err := checkName(f.Name); err != nil {
			return Info{}, err
		}
		if i > 0 && sorted[i-1].Name == f.Name {
			return Info{}, fmt.Errorf("%w: %q appears twice", ErrBadName, f.Name)
		}
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	zw := zip.NewWriter(cw)
	for _, f := range sorted {
		mode := f.Mode.Perm()
		if mode == 0 {
			mode = 0o644
		}
		hdr := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: epoch}
		hdr.SetMode(mode)
		// SetMode marks the entry as made on Unix; Modified above also sets
		// the extended timestamp, which is the same for every entry.
		ew, err := zw.CreateHeader(hdr)
		if err != nil {
			return Info{}, fmt.Errorf("artifact: %s: %w", f.Name, err)
		}
		if _, err := ew.Write(f.Data); err != nil {
			return Info{}, fmt.Errorf("artifact: %s: %w", f.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return Info{}, fmt.Errorf("artifact: close: %w", err)
	}
	return Info{SHA256: hex.EncodeToString(h.Sum(nil)), Size: cw.n, Files: len(sorted)}, nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case strings.HasPrefix(name, "/"), strings.Contains(name, "\\"):
		return fmt.Errorf("%w: %q is not a relative slash path", ErrBadName, name)
	case path.Clean(name) != name, name == ".", strings.HasPrefix(name, "../"), name == "..":
		return fmt.Errorf("%w: %q is not clean", ErrBadName, name)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadTree adds the files under dir to files, keyed by their slash path
// relative to dir.
func ReadTree(dir string, files map[string][]byte) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = data
		return nil
	})
}
