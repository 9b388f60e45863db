package server

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// tokenHint tells a caller without the right token where to find it.
const tokenHint = "the app's invoke token (file invoke-token in the data directory of its control plane)"

// authenticate checks the bearer token of an Invoke. Its errors say what is
// missing or wrong and where the token is, never the token itself.
func (s *Server) authenticate(ctx context.Context) error {
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vals) == 0 {
		return status.Errorf(codes.Unauthenticated, "host %s: missing invoke token: send \"authorization: Bearer <token>\" with %s", s.h.Name(), tokenHint)
	}
	tok, ok := cutBearer(vals[0])
	if !ok {
		return status.Errorf(codes.Unauthenticated, "host %s: authorization is not a bearer token: send \"authorization: Bearer <token>\" with %s", s.h.Name(), tokenHint)
	}
	if subtle.ConstantTimeCompare([]byte(tok), s.token) != 1 {
		return status.Errorf(codes.Unauthenticated, "host %s: invalid invoke token: send %s (a host only accepts the token of its own app)", s.h.Name(), tokenHint)
	}
	return nil
}

// cutBearer returns the token of "Bearer <token>" (scheme case-insensitive,
// RFC 6750).
func cutBearer(v string) (string, bool) {
	const scheme = "bearer "
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(v[len(scheme):]), true
}
