package gcf

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"cloud.google.com/go/functions/apiv2/functionspb"
)

// maxUploadBytes is Cloud Functions' limit on a zipped source upload.
const maxUploadBytes = 100 << 20

// newUpload issues a one-object upload URL as GenerateUploadUrl does.
func (e *Emulator) newUpload(project, location string) (string, *functionspb.StorageSource) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	object := hex.EncodeToString(b[:]) + ".zip"
	bucket := "gcf-v2-uploads-" + project + "-" + location
	e.mu.Lock()
	e.uploads[object] = ""
	e.mu.Unlock()
	return e.baseURL() + "/upload/" + bucket + "/" + object, &functionspb.StorageSource{Bucket: bucket, Object: object}
}

// serveUpload stores a PUT zip as the signed Cloud Storage URL would: no
// auth, content-type application/zip, one object per URL.
func (e *Emulator) serveUpload(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/upload/")
	_, object, ok := strings.Cut(rest, "/")
	if r.Method != http.MethodPut {
		storageError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the upload URL accepts only PUT")
		return
	}
	e.mu.Lock()
	stored, issued := e.uploads[object]
	e.mu.Unlock()
	if !ok || !issued || strings.Contains(object, "/") {
		storageError(w, http.StatusNotFound, "NoSuchUpload", "no upload URL was generated for "+rest)
		return
	}
	if stored != "" {
		storageError(w, http.StatusForbidden, "AccessDenied", "the upload URL for "+object+" was already used")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/zip" {
		storageError(w, http.StatusForbidden, "SignatureDoesNotMatch", fmt.Sprintf("the upload URL was signed for content-type application/zip, the request has %q", ct))
		return
	}
	path := filepath.Join(e.opts.Dir, "uploads", object)
	f, err := os.Create(path)
	if err != nil {
		storageError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	n, err := io.Copy(f, io.LimitReader(r.Body, maxUploadBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxUploadBytes {
		os.Remove(path)
		storageError(w, http.StatusBadRequest, "EntityTooLarge", fmt.Sprintf("the source upload is over %d bytes", maxUploadBytes))
		return
	}
	if err != nil {
		os.Remove(path)
		storageError(w, http.StatusBadRequest, "IncompleteBody", err.Error())
		return
	}
	e.mu.Lock()
	e.uploads[object] = path
	e.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// storageError answers in Cloud Storage's XML error shape.
func storageError(w http.ResponseWriter, code int, kind, msg string) {
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<?xml version='1.0' encoding='UTF-8'?><Error><Code>%s</Code><Message>%s</Message></Error>", kind, xmlEscape(msg))
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;").Replace(s)
}
