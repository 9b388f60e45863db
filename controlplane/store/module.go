package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fusionize/fusionize/api"

	bolt "go.etcd.io/bbolt"
)

// tmpPrefix names upload temp files in the module directory; Open removes
// leftovers.
const tmpPrefix = ".upload-"

// PutModule stores the module read from r as the latest module of task.
//
// The bytes stream into a temp file next to their final place while they are
// hashed; nothing is kept unless they fit in maxSize (ErrTooLarge; maxSize <=
// 0 means no limit) and hash to wantDigest (ErrDigestMismatch). An empty
// wantDigest skips the check: the store names the module after what it got.
// The file is fsynced and renamed atomically to modules/sha256/<hex>, then
// recorded. Uploading the same bytes for the same task again changes nothing
// and returns the first api.ModuleInfo. Cancelling ctx aborts the upload.
func (s *Store) PutModule(ctx context.Context, task string, r io.Reader, wantDigest string, maxSize int64) (api.ModuleInfo, error) {
	return s.PutCheckedModule(ctx, task, r, wantDigest, maxSize, nil)
}

// PutCheckedModule is PutModule with one more test before anything is
// kept: once the bytes are complete and their digest verified, check (when
// not nil) gets the path of the temp file; an error from it is returned
// as it is and nothing is stored.
func (s *Store) PutCheckedModule(ctx context.Context, task string, r io.Reader, wantDigest string, maxSize int64, check func(path string) error) (api.ModuleInfo, error) {
	return s.putModule(ctx, task, nil, r, wantDigest, maxSize, check)
}

// PutCheckedFusedModule is PutCheckedModule for a fused module named name
// (api.FusedModuleName) that holds tasks: its api.ModuleInfo lists them.
func (s *Store) PutCheckedFusedModule(ctx context.Context, name string, tasks []string, r io.Reader, wantDigest string, maxSize int64, check func(path string) error) (api.ModuleInfo, error) {
	if len(tasks) == 0 {
		return api.ModuleInfo{}, fmt.Errorf("store: put fused module %q: no tasks", name)
	}
	return s.putModule(ctx, name, slices.Sorted(slices.Values(tasks)), r, wantDigest, maxSize, check)
}

func (s *Store) putModule(ctx context.Context, task string, fused []string, r io.Reader, wantDigest string, maxSize int64, check func(path string) error) (api.ModuleInfo, error) {
	if err := s.check(); err != nil {
		return api.ModuleInfo{}, err
	}
	if task == "" {
		return api.ModuleInfo{}, errors.New("store: put module: empty task name")
	}
	if wantDigest != "" {
		if _, err := ParseDigest(wantDigest); err != nil {
			return api.ModuleInfo{}, fmt.Errorf("put module for task %q: %w", task, err)
		}
	}
	f, err := os.CreateTemp(s.modDir, tmpPrefix+"*")
	if err != nil {
		return api.ModuleInfo{}, fmt.Errorf("store: put module for task %q: %w", task, err)
	}
	tmp := f.Name()
	kept := false
	defer func() {
		if !kept {
			f.Close()
			os.Remove(tmp)
		}
	}()

	src := io.Reader(ctxReader{ctx, r})
	if maxSize > 0 {
		src = io.LimitReader(src, maxSize+1)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err != nil {
		return api.ModuleInfo{}, fmt.Errorf("store: put module for task %q: %w", task, err)
	}
	if maxSize > 0 && n > maxSize {
		return api.ModuleInfo{}, fmt.Errorf("%w: module for task %q exceeds %d bytes", ErrTooLarge, task, maxSize)
	}
	got := formatDigest(h.Sum(nil))
	if wantDigest != "" && got != wantDigest {
		return api.ModuleInfo{}, fmt.Errorf("%w: module for task %q: want %s, got %s", ErrDigestMismatch, task, wantDigest, got)
	}
	if check != nil {
		if err := check(tmp); err != nil {
			return api.ModuleInfo{}, err
		}
	}
	if err := f.Sync(); err != nil {
		return api.ModuleInfo{}, fmt.Errorf("store: put module for task %q: %w", task, err)
	}
	if err := f.Close(); err != nil {
		return api.ModuleInfo{}, fmt.Errorf("store: put module for task %q: %w", task, err)
	}
	// Renaming over an existing file of the same name is safe (same bytes)
	// and repairs a corrupted copy.
	if err := os.Rename(tmp, s.modulePath(got)); err != nil {
		return api.ModuleInfo{}, fmt.Errorf("store: put module for task %q: %w", task, err)
	}
	kept = true
	if err := syncDir(s.modDir); err != nil {
		return api.ModuleInfo{}, fmt.Errorf("store: put module for task %q: %w", task, err)
	}

	info := api.ModuleInfo{Task: task, Digest: got, Size: n, UploadedAt: time.Now().UTC(), Tasks: fused}
	err = s.update(func(tx *bolt.Tx) error {
		tasks := tx.Bucket(bucketTasks)
		if v := tasks.Get([]byte(task)); v != nil {
			var prev api.ModuleInfo
			if json.Unmarshal(v, &prev) == nil && prev.Digest == got && slices.Equal(prev.Tasks, fused) {
				info = prev // idempotent
				return nil
			}
		}
		val, err := json.Marshal(info)
		if err != nil {
			return err
		}
		mods := tx.Bucket(bucketModules)
		if mods.Get([]byte(got)) == nil {
			if err := mods.Put([]byte(got), val); err != nil {
				return err
			}
		}
		return tasks.Put([]byte(task), val)
	})
	if err != nil {
		return api.ModuleInfo{}, fmt.Errorf("store: record module for task %q: %w", task, err)
	}
	return info, nil
}

// OpenModule opens the module with the given digest for reading. It checks
// the digest's form (ErrBadDigest) but not the bytes; use ModuleBytes to
// verify them. The api.ModuleInfo is the first upload of these bytes.
func (s *Store) OpenModule(digest string) (io.ReadCloser, api.ModuleInfo, error) {
	info, err := s.moduleInfo(digest)
	if err != nil {
		return nil, api.ModuleInfo{}, err
	}
	f, err := os.Open(s.modulePath(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, api.ModuleInfo{}, fmt.Errorf("%w: module %s is recorded but its file is missing", ErrCorrupt, digest)
	}
	if err != nil {
		return nil, api.ModuleInfo{}, fmt.Errorf("store: open module %s: %w", digest, err)
	}
	return f, info, nil
}

// ModuleBytes reads the whole module and verifies that it still hashes to
// digest; on-disk damage is reported as ErrCorrupt.
func (s *Store) ModuleBytes(digest string) ([]byte, error) {
	rc, info, err := s.OpenModule(digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, info.Size+bytes.MinRead))
	if _, err := buf.ReadFrom(rc); err != nil {
		return nil, fmt.Errorf("store: read module %s: %w", digest, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if got := formatDigest(sum[:]); got != digest {
		return nil, fmt.Errorf("%w: %s hashes to %s (%d bytes, recorded %d)", ErrCorrupt, s.modulePath(digest), got, buf.Len(), info.Size)
	}
	return buf.Bytes(), nil
}

// ModuleFor returns the latest module uploaded for task.
func (s *Store) ModuleFor(task string) (api.ModuleInfo, error) {
	var info api.ModuleInfo
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTasks).Get([]byte(task))
		if v == nil {
			return fmt.Errorf("%w: no module for task %q", ErrNotFound, task)
		}
		return decodeJSON(v, &info, "module of task "+task)
	})
	return info, err
}

// ListModules returns the latest module of every task, sorted by task.
func (s *Store) ListModules() ([]api.ModuleInfo, error) {
	var out []api.ModuleInfo
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			var info api.ModuleInfo
			if err := decodeJSON(v, &info, "module of task "+string(k)); err != nil {
				return err
			}
			out = append(out, info)
			return nil
		})
	})
	return out, err
}

func (s *Store) moduleInfo(digest string) (api.ModuleInfo, error) {
	if _, err := ParseDigest(digest); err != nil {
		return api.ModuleInfo{}, err
	}
	var info api.ModuleInfo
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketModules).Get([]byte(digest))
		if v == nil {
			return fmt.Errorf("%w: module %s", ErrNotFound, digest)
		}
		return decodeJSON(v, &info, "module "+digest)
	})
	return info, err
}

// modulePath expects a digest that ParseDigest accepted.
func (s *Store) modulePath(digest string) string {
	return filepath.Join(s.modDir, digest[len(digestPrefix):])
}

func decodeJSON(data []byte, v any, what string) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
