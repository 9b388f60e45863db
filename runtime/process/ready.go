package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Ready is what a host process writes to its ready file once it serves,
// and what the local adapter waits for.
type Ready struct {
	GRPC string `json:"grpc"` // host:port of HostService
	HTTP string `json:"http"` // host:port of REST, /healthz and /metrics
	PID  int    `json:"pid"`
	// Error, instead of the addresses, says why the host could not start
	// (a module that does not load, an _initialize past its deadline, …):
	// Run writes it before it returns the error, so that whoever waits for
	// the file learns the reason at once.
	Error string `json:"error,omitempty"`
}

// ErrStartFailed: the ready file says the host could not start; the error
// carries the host's reason.
var ErrStartFailed = errors.New("host could not start")

// WriteReady writes r to path atomically (a temp file renamed into place),
// so a reader never sees half a file. A zero PID becomes this process's.
func WriteReady(path string, r Ready) error {
	if r.PID == 0 {
		r.PID = os.Getpid()
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("process: ready file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("process: ready file: %w", err)
	}
	return nil
}

// ReadReady reads the ready file at path. It fails until the host wrote
// one with its gRPC address.
func ReadReady(path string) (Ready, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Ready{}, err
	}
	var r Ready
	if err := json.Unmarshal(data, &r); err != nil {
		return Ready{}, fmt.Errorf("process: ready file %s: %w", path, err)
	}
	if r.Error != "" {
		return r, fmt.Errorf("%w: %s", ErrStartFailed, r.Error)
	}
	if r.GRPC == "" {
		return Ready{}, fmt.Errorf("process: ready file %s names no gRPC address", path)
	}
	return r, nil
}
