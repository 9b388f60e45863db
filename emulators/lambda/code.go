package lambda

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Lambda's deployment package limits for a direct upload.
const (
	maxZippedCode   = 50 << 20
	maxUnzippedCode = 262144000
)

// storeCode unzips a deployment package into fnDir/code-<sha256> (once per distinct
// package of the function) and returns the directory, Lambda's CodeSha256 (base64) and the
// package size. fnDir belongs to one function (a function created again after a delete
// gets a new one); fn names it in errors.
func storeCode(fnDir, fn string, zipped []byte) (codeDir, sha string, size int64, err error) {
	if len(zipped) == 0 {
		return "", "", 0, invalid("function %s: Code.ZipFile is empty", fn)
	}
	if len(zipped) > maxZippedCode {
		return "", "", 0, errorf(413, "RequestEntityTooLargeException", "function %s: zipped package of %d bytes exceeds %d bytes", fn, len(zipped), maxZippedCode)
	}
	sum := sha256.Sum256(zipped)
	codeDir = filepath.Join(fnDir, "code-"+hex.EncodeToString(sum[:8]))
	sha = base64.StdEncoding.EncodeToString(sum[:])
	if _, err := os.Stat(codeDir); err == nil {
		return codeDir, sha, int64(len(zipped)), nil
	}
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		return "", "", 0, invalid("function %s: Could not unzip uploaded file. Please check your file, then try to upload again. (%v)", fn, err)
	}
	if err := os.MkdirAll(fnDir, 0o755); err != nil {
		return "", "", 0, fmt.Errorf("function %s: %w", fn, err)
	}
	tmp, err := os.MkdirTemp(fnDir, "unzip-")
	if err != nil {
		return "", "", 0, fmt.Errorf("function %s: %w", fn, err)
	}
	defer os.RemoveAll(tmp)
	if err := unzip(zr, tmp, fn); err != nil {
		return "", "", 0, err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".package.zip"), zipped, 0o600); err != nil {
		return "", "", 0, fmt.Errorf("function %s: %w", fn, err)
	}
	if err := os.MkdirAll(filepath.Dir(codeDir), 0o755); err != nil {
		return "", "", 0, fmt.Errorf("function %s: %w", fn, err)
	}
	if err := os.Rename(tmp, codeDir); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(codeDir); serr != nil {
			return "", "", 0, fmt.Errorf("function %s: %w", fn, err)
		}
	}
	return codeDir, sha, int64(len(zipped)), nil
}

func unzip(zr *zip.Reader, dst, fn string) error {
	var total uint64
	for _, f := range zr.File {
		name := filepath.Clean(filepath.FromSlash(f.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return invalid("function %s: Could not unzip uploaded file: entry %q leaves the package", fn, f.Name)
		}
		total += f.UncompressedSize64
		if total > maxUnzippedCode {
			return invalid("function %s: Unzipped size must be smaller than %d bytes", fn, maxUnzippedCode)
		}
		path := filepath.Join(dst, name)
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("function %s: %w", fn, err)
			}
			continue
		case mode&os.ModeSymlink != 0:
			continue // not followed: a package's symlinks could point anywhere on this machine
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("function %s: %w", fn, err)
		}
		perm := mode.Perm()
		if perm == 0 {
			perm = 0o644
		}
		if err := extract(f, path, perm); err != nil {
			return invalid("function %s: Could not unzip uploaded file: %s: %v", fn, f.Name, err)
		}
	}
	return nil
}

func extract(f *zip.File, path string, perm os.FileMode) error {
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, io.LimitReader(r, maxUnzippedCode)); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
