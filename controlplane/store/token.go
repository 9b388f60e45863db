package store

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Names of the token files inside the data directory.
const (
	// TokenFile holds the control-plane bearer token.
	TokenFile = "token"
	// InvokeTokenFile holds the app's invoke token, which hosts require on
	// HostService.Invoke.
	InvokeTokenFile = "invoke-token"
)

// Token returns the control-plane bearer token: 32 random bytes in hex. The
// first call creates dir/token with mode 0600; later calls, also after a
// restart, return the same token. A token file readable by group or others
// is refused rather than used.
func (s *Store) Token() (string, error) { return s.token(TokenFile) }

// InvokeToken returns the app's invoke token, the bearer token its hosts
// require of clients and of each other on HostService.Invoke: made and kept
// like Token, in dir/invoke-token, but a token of its own, so that what
// invokes tasks (hosts on any platform, clients) cannot change the setup.
func (s *Store) InvokeToken() (string, error) { return s.token(InvokeTokenFile) }

func (s *Store) token(name string) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	path := filepath.Join(s.dir, name)
	tok, err := readToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	var raw [32]byte
	rand.Read(raw[:]) // never fails (crypto/rand, Go ≥1.24)
	tok = hex.EncodeToString(raw[:])
	// Write to a temp file and rename, so a crash never leaves a short token.
	f, err := os.CreateTemp(s.dir, "."+name+"-*")
	if err != nil {
		return "", fmt.Errorf("store: create token: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("store: write token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("store: write token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("store: write token: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return "", fmt.Errorf("store: write token: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return "", fmt.Errorf("store: write token: %w", err)
	}
	return tok, nil
}

func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("store: token file %s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("store: read token: %w", err)
	}
	tok := string(bytes.TrimSpace(data))
	if b, err := hex.DecodeString(tok); err != nil || len(b) != 32 {
		return "", fmt.Errorf("%w: token file %s does not hold 64 hex digits", ErrCorrupt, path)
	}
	return tok, nil
}
