package gcp

import (
	"context"
	"sync"

	"golang.org/x/oauth2"
	"google.golang.org/api/idtoken"
)

// GoogleIDTokens returns an Options.IDTokens for a real project, off the
// cloud: Google ID tokens from Application Default Credentials (a service
// account key file, or the metadata server on Google Cloud), one cached
// token source per audience. A user's own gcloud credentials cannot mint
// ID tokens for arbitrary audiences; use a service account.
func GoogleIDTokens(opts ...idtoken.ClientOption) func(ctx context.Context, audience string) (string, error) {
	var mu sync.Mutex
	sources := map[string]oauth2.TokenSource{}
	return func(ctx context.Context, audience string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		ts, ok := sources[audience]
		if !ok {
			var err error
			// The source outlives this call: it refreshes the token when
			// it expires, so it must not hold the call's context.
			ts, err = idtoken.NewTokenSource(context.WithoutCancel(ctx), audience, opts...)
			if err != nil {
				return "", err
			}
			sources[audience] = ts
		}
		tok, err := ts.Token()
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
}
