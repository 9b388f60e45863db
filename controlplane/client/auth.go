package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the name of the token file inside a control plane's data
// directory (the store creates it there on first start).
const TokenFile = "token"

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

// ReadToken reads the bearer token of the control plane whose data
// directory is dataDir, for clients on the same machine (the CLI).
func ReadToken(dataDir string) (string, error) {
	b, err := os.ReadFile(TokenPath(dataDir))
	if err != nil {
		return "", fmt.Errorf("controlplane: read token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("controlplane: token file %s is empty", TokenPath(dataDir))
	}
	return tok, nil
}
