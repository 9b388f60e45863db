package https

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// MetadataServer is the address of Google Cloud's metadata server, which
// mints ID tokens for the service account a Cloud Run instance runs as.
const MetadataServer = "http://metadata.google.internal"

// MetadataIDTokens returns an Options.IDTokens that asks the metadata
// server at base (MetadataServer inside Google Cloud) for an ID token per
// audience and keeps each until a minute before it expires. It is what a
// function uses to call other functions; it needs no client library (a
// service account key file off the cloud wants
// google.golang.org/api/idtoken instead; adapters/gcp has it).
func MetadataIDTokens(base string, client *http.Client) func(ctx context.Context, audience string) (string, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	type token struct {
		raw     string
		expires time.Time
	}
	var mu sync.Mutex
	cache := map[string]token{}
	return func(ctx context.Context, audience string) (string, error) {
		mu.Lock()
		tok, ok := cache[audience]
		mu.Unlock()
		if ok && time.Until(tok.expires) > time.Minute {
			return tok.raw, nil
		}
		u := strings.TrimSuffix(base, "/") + "/computeMetadata/v1/instance/service-accounts/default/identity?audience=" + url.QueryEscape(audience) + "&format=full"
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Metadata-Flavor", "Google")
		resp, err := client.Do(req)
		if err != nil {
			return "", fmt.Errorf("metadata server: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("metadata server: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("metadata server: %s: %s", resp.Status, brief(body))
		}
		raw := strings.TrimSpace(string(body))
		tok = token{raw: raw, expires: expiry(raw)}
		mu.Lock()
		cache[audience] = tok
		mu.Unlock()
		return raw, nil
	}
}

// expiry reads the exp claim of a JWT without checking it (the token came
// from the metadata server); a token it cannot read is used once.
func expiry(jwt string) time.Time {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(claims.Exp, 0)
}
