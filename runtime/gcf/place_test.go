package gcf_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/rtt"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/https"
	"github.com/fusionize/fusionize/runtime/gcf"
)

// TestGroupCallsNameTheFunctionsPlace: a function's calls to another group
// carry the place EnvPlace names (what the gcp adapter sets), so that an
// emulated cloud can charge the round trip; with no place known (the test
// setup's groups name no region) they carry none.
func TestGroupCallsNameTheFunctionsPlace(t *testing.T) {
	for name, tc := range map[string]struct{ env, want string }{
		"EnvPlace":   {"gcp/us-east4", "gcp/us-east4"},
		"none known": {"", ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(gcf.EnvPlace, tc.env)
			back, err := url.Parse(serve(t, "back", nil))
			if err != nil {
				t.Fatal(err)
			}
			proxy := httputil.NewSingleHostReverseProxy(back)
			seen := make(chan []string, 8)
			watch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- r.Header.Values(rtt.CallerPlaceHeader)
				proxy.ServeHTTP(w, r)
			}))
			defer watch.Close()
			front := serve(t, "front", api.Endpoints{"back": {Kind: api.KindHTTPS, URL: watch.URL}})
			tr := https.New(https.Options{})
			defer tr.Close()
			if out, err := tr.Call(t.Context(), front, host.Call{Task: "caller", Input: []byte("placed")}); err != nil || string(out) != "placed" {
				t.Fatalf("caller = %q, %v", out, err)
			}
			got := <-seen
			if tc.want == "" && len(got) != 0 || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Fatalf("the call to back named the caller's place %q, want %q", got, tc.want)
			}
		})
	}
}
