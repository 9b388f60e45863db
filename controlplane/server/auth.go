package server

import (
	"context"
	"crypto/subtle"
	"strings"

	"github.com/fusionize/fusionize/controlplane/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Method prefixes that need no token: the schema (server reflection, so
// grpcurl can describe the API before the user has found the token) and
// liveness (the standard health service, for probes that carry no secrets).
// Neither reveals or changes any state of the application.
var publicPrefixes = []string{
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
	"/grpc.health.v1.Health/",
}

func isPublic(fullMethod string) bool {
	for _, p := range publicPrefixes {
		if strings.HasPrefix(fullMethod, p) {
			return true
		}
	}
	return false
}

// authenticator checks the bearer token of incoming calls.
type authenticator struct {
	token     []byte
	tokenPath string // named in errors so the user knows where to look
}

func (a *authenticator) check(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return status.Errorf(codes.Unauthenticated, "missing bearer token: read it from %s and send it as \"authorization: Bearer <token>\"", a.tokenPath)
	}
	tok, ok := cutBearer(vals[0])
	if !ok {
		return status.Errorf(codes.Unauthenticated, "authorization is not a bearer token: send \"authorization: Bearer <token>\" with the token from %s", a.tokenPath)
	}
	if subtle.ConstantTimeCompare([]byte(tok), a.token) != 1 {
		return status.Errorf(codes.Unauthenticated, "invalid bearer token: read the current one from %s", a.tokenPath)
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

// UnaryAuthInterceptor requires "authorization: Bearer <token>" on every
// unary call except the public ones (reflection, health). tokenPath is named
// in the error a caller without the right token gets.
func UnaryAuthInterceptor(token, tokenPath string) grpc.UnaryServerInterceptor {
	a := &authenticator{token: []byte(token), tokenPath: tokenPath}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !isPublic(info.FullMethod) {
			if err := a.check(ctx); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

// StreamAuthInterceptor is UnaryAuthInterceptor for streaming calls.
func StreamAuthInterceptor(token, tokenPath string) grpc.StreamServerInterceptor {
	a := &authenticator{token: []byte(token), tokenPath: tokenPath}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !isPublic(info.FullMethod) {
			if err := a.check(ss.Context()); err != nil {
				return err
			}
		}
		return handler(srv, ss)
	}
}

// TokenPath returns where the control plane of dataDir keeps its token.
func TokenPath(dataDir string) string { return client.TokenPath(dataDir) }

// InvokeTokenPath returns where the control plane of dataDir keeps the
// app's invoke token.
func InvokeTokenPath(dataDir string) string { return client.InvokeTokenPath(dataDir) }
