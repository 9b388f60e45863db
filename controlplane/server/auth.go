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

// The entry point's methods: Invoke needs the app's invoke token (what
// clients of the app hold, as on every host), never the control plane's;
// Health is open, as on every host.
const (
	entryInvokeMethod = "/fusionize.v1.HostService/Invoke"
	entryHealthMethod = "/fusionize.v1.HostService/Health"
)

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

// policy says which token a method needs: the invoke token for the entry
// point's Invoke (when invoke is set), none for the public methods, the
// control plane's for the rest.
type policy struct {
	cp, invoke *authenticator
}

func (p policy) check(ctx context.Context, fullMethod string) error {
	switch {
	case isPublic(fullMethod):
		return nil
	case p.invoke != nil && fullMethod == entryHealthMethod:
		return nil
	case p.invoke != nil && fullMethod == entryInvokeMethod:
		return p.invoke.check(ctx)
	}
	return p.cp.check(ctx)
}

func (p policy) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := p.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (p policy) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := p.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
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
	return policy{cp: &authenticator{token: []byte(token), tokenPath: tokenPath}}.unary
}

// StreamAuthInterceptor is UnaryAuthInterceptor for streaming calls.
func StreamAuthInterceptor(token, tokenPath string) grpc.StreamServerInterceptor {
	return policy{cp: &authenticator{token: []byte(token), tokenPath: tokenPath}}.stream
}

// TokenPath returns where the control plane of dataDir keeps its token.
func TokenPath(dataDir string) string { return client.TokenPath(dataDir) }

// InvokeTokenPath returns where the control plane of dataDir keeps the
// app's invoke token.
func InvokeTokenPath(dataDir string) string { return client.InvokeTokenPath(dataDir) }
