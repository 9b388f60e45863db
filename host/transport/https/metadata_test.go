package https_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fusionize/fusionize/host/transport/https"
)

func TestMetadataIDTokensAreAskedOncePerAudienceUntilExpiry(t *testing.T) {
	asked := map[string]int{}
	exp := time.Now().Add(time.Hour).Unix()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" || r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/identity" {
			http.Error(w, "not the metadata API", http.StatusForbidden)
			return
		}
		aud := r.URL.Query().Get("audience")
		asked[aud]++
		claims := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"aud":%q,"exp":%d}`, aud, exp))
		fmt.Fprintf(w, "e30.%s.sig", claims)
	}))
	defer srv.Close()
	tokens := https.MetadataIDTokens(srv.URL, nil)
	for range 3 {
		for _, aud := range []string{"https://a.run.app", "https://b.run.app"} {
			tok, err := tokens(t.Context(), aud)
			if err != nil || tok == "" {
				t.Fatalf("token for %s: %q, %v", aud, tok, err)
			}
		}
	}
	if asked["https://a.run.app"] != 1 || asked["https://b.run.app"] != 1 {
		t.Fatalf("metadata server asked %v, want once per audience", asked)
	}
	if _, err := https.MetadataIDTokens(srv.URL+"/nope", nil)(t.Context(), "x"); err == nil {
		t.Fatal("an error answer gave a token")
	}
}
