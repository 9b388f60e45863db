package api

import "time"

// ModuleInfo describes a stored Wasm module of a task.
type ModuleInfo struct {
	Task       string    `json:"task"`       // the task it was uploaded for
	Digest     string    `json:"digest"`     // "sha256:<hex>"
	Size       int64     `json:"size"`       // bytes
	UploadedAt time.Time `json:"uploadedAt"` // first upload of these bytes for Task
}
