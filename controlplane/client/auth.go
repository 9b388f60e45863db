package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Names of the token files inside a control plane's data directory (the
// store creates them there on first start, mode 0600).
const (
	// TokenFile holds the control-plane token.
	TokenFile = "token"
	// InvokeTokenFile holds the app's invoke token, which its hosts require
	// on HostService.Invoke (gRPC "authorization: Bearer <token>", REST
	// "Authorization: Bearer <token>").
	InvokeTokenFile = "invoke-token"
)

// BearerToken is a credentials.PerRPCCredentials that sends
// "authorization: Bearer <token>" with every call. It does not demand
// transport security, so it also works over plaintext loopback; Dial only
// allows plaintext to loopback addresses unless told otherwise.
type BearerToken string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t BearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (BearerToken) RequireTransportSecurity() bool { return false }

// TokenPath returns where the control plane of dataDir keeps its token.
func TokenPath(dataDir string) string { return filepath.Join(dataDir, TokenFile) }

// InvokeTokenPath returns where the control plane of dataDir keeps the
// app's invoke token.
func InvokeTokenPath(dataDir string) string { return filepath.Join(dataDir, InvokeTokenFile) }

// ReadToken reads the bearer token of the control plane whose data
// directory is dataDir, for clients on the same machine (the CLI).
func ReadToken(dataDir string) (string, error) { return readToken(TokenPath(dataDir), "token") }

// ReadInvokeToken reads the app's invoke token from the data directory of
// its control plane, for clients on the same machine (the CLI).
func ReadInvokeToken(dataDir string) (string, error) {
	return readToken(InvokeTokenPath(dataDir), "invoke token")
}

func readToken(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("controlplane: read %s: %w", what, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("controlplane: %s file %s is empty", what, path)
	}
	return tok, nil
}
