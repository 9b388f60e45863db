package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/controlplane/store"
	"google.golang.org/grpc/codes"
)

func TestValuesSurviveAControlPlaneRestart(t *testing.T) {
	dir := t.TempDir()
	cp := startCP(t, dir)
	c := dial(t, cp)
	big := randomBytes(t, store.MaxValueSize) // the largest value crosses both ways
	writes := map[string][]byte{"events/s-1/t1": []byte(`{"n":1}`), "events/s-1/t2": {}, "big": big}
	for k, v := range writes {
		if err := c.PutValue(t.Context(), "iot", k, v); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	cp.stop()

	cp = startCP(t, dir)
	c = dial(t, cp)
	for k, want := range writes {
		got, ok, err := c.GetValue(t.Context(), "iot", k)
		if err != nil || !ok || !bytes.Equal(got, want) {
			t.Errorf("after restart, %s = %d bytes, %v, %v; want %d bytes", k, len(got), ok, err, len(want))
		}
	}
	if _, ok, err := c.GetValue(t.Context(), "webshop", "big"); ok || err != nil {
		t.Errorf("another app's store sees iot's key: %v, %v", ok, err)
	}
}

func TestValueRequestsNameTheirFault(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	for _, tc := range []struct {
		name, app, key string
		val            []byte
		code           codes.Code
		msg            string
	}{
		{"no app", "", "k", nil, codes.InvalidArgument, "no application named"},
		{"empty key", "iot", "", nil, codes.InvalidArgument, "empty key"},
		{"key too long", "iot", strings.Repeat("k", store.MaxKeySize+1), nil, codes.InvalidArgument, "limit 1024"},
		{"value too large", "iot", "big", make([]byte, store.MaxValueSize+1), codes.ResourceExhausted, `"big"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.PutValue(t.Context(), tc.app, tc.key, tc.val)
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestValuesOverREST(t *testing.T) {
	cp := startCP(t, t.TempDir())
	base := "http://" + cp.HTTPAddr() + "/v1/apps/iot/kv/events/s-1/t1"
	do := func(method, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cp.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, base, resp.StatusCode, b, err)
		}
		return resp.StatusCode, m
	}
	if code, m := do("GET", ""); code != 200 || m["found"] == true {
		t.Fatalf("GET of an absent key: %d %v", code, m)
	}
	val := `{"sensorId":"s-1"}`
	if code, m := do("PUT", `"`+base64.StdEncoding.EncodeToString([]byte(val))+`"`); code != 200 {
		t.Fatalf("PUT: %d %v", code, m)
	}
	code, m := do("GET", "")
	got, _ := base64.StdEncoding.DecodeString(m["value"].(string))
	if code != 200 || m["found"] != true || string(got) != val {
		t.Fatalf("GET after PUT: %d %v", code, m)
	}
	v, ok, err := dial(t, cp).GetValue(t.Context(), "iot", "events/s-1/t1")
	if err != nil || !ok || string(v) != val {
		t.Fatalf("gRPC sees the REST write as %q, %v, %v", v, ok, err)
	}
}

func TestDeregisterRemovesOnlyTheHostAtItsAddress(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	if _, err := c.RegisterHost(t.Context(), api.HostInfo{Name: "A@v1", Group: "A", Address: "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	// An older host of the same name, at another address, stops: the newer
	// one stays listed.
	if removed, err := c.DeregisterHost(t.Context(), "A@v1", "127.0.0.1:1"); err != nil || removed {
		t.Fatalf("deregister at the old address: %v, %v; want false", removed, err)
	}
	if hosts, _ := c.Hosts(t.Context()); len(hosts) != 1 {
		t.Fatalf("hosts after the old one left: %v", hosts)
	}
	if removed, err := c.DeregisterHost(t.Context(), "A@v1", "127.0.0.1:2"); err != nil || !removed {
		t.Fatalf("deregister at its address: %v, %v; want true", removed, err)
	}
	if hosts, _ := c.Hosts(t.Context()); len(hosts) != 0 {
		t.Fatalf("hosts after deregister: %v", hosts)
	}
	_, err := c.DeregisterHost(t.Context(), "", "")
	wantCode(t, err, codes.InvalidArgument)
}
