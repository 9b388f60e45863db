package api

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// ModuleInfo describes a stored Wasm module of a task, or a fused module
// of several.
type ModuleInfo struct {
	Task       string    `json:"task"`       // the task it was uploaded for; a fused module's name
	Digest     string    `json:"digest"`     // "sha256:<hex>"
	Size       int64     `json:"size"`       // bytes
	UploadedAt time.Time `json:"uploadedAt"` // first upload of these bytes for Task
	// Tasks are the tasks a fused module (guest ABI version 2) holds, sorted;
	// empty for the module of one task.
	Tasks []string `json:"tasks,omitempty"`
}

// Fused reports whether m is a fused module.
func (m ModuleInfo) Fused() bool { return len(m.Tasks) > 0 }

// FusedModuleName is the name a fused module of tasks is stored and
// fetched by (ModuleInfo.Task): "fused-" and the sorted task names joined
// by "-", shortened with a digest of the names when longer than 64 bytes.
func FusedModuleName(tasks []string) string {
	names := slices.Sorted(slices.Values(tasks))
	n := "fused-" + strings.Join(names, "-")
	if len(n) <= 64 {
		return n
	}
	sum := sha256.Sum256([]byte(strings.Join(names, "\n")))
	return n[:47] + "-" + hex.EncodeToString(sum[:8])
}
