//go:build !wasip1

package task

import "errors"

// ErrNotInHost is returned by every call when the package is built for a
// platform other than wasip1: tasks run only inside a Fusionize host. The
// package still compiles natively so that `go vet ./...` and editors work on
// task sources.
var ErrNotInHost = errors.New("task: not running inside a Fusionize host (build with GOOS=wasip1 GOARCH=wasm)")

// CallInto is only available inside a host.
func CallInto(dst []byte, name string, input []byte) ([]byte, error) { return nil, ErrNotInHost }

// Call is only available inside a host.
func Call(name string, input []byte) ([]byte, error) { return nil, ErrNotInHost }

// CallAsync is only available inside a host.
func CallAsync(name string, input []byte) error { return ErrNotInHost }

// Start is only available inside a host.
func Start(name string, input []byte) (Pending, error) { return Pending{}, ErrNotInHost }

// WaitInto is only available inside a host.
func (p Pending) WaitInto(dst []byte) ([]byte, error) { return nil, ErrNotInHost }

// Wait is only available inside a host.
func (p Pending) Wait() ([]byte, error) { return nil, ErrNotInHost }

// Log is only available inside a host; elsewhere it does nothing.
func Log(level int32, msg string) {}

// Put is only available inside a host.
func Put(key string, val []byte) error { return ErrNotInHost }

// Get is only available inside a host.
func Get(key string) ([]byte, bool, error) { return nil, false, ErrNotInHost }
