package adaptertest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestModulesMatchHost keeps the embedded modules equal to the committed
// ones of host/testdata, where their .wat sources and gen.sh live.
func TestModulesMatchHost(t *testing.T) {
	for _, task := range append([]string{FusedModule}, Tasks...) {
		want, err := os.ReadFile(filepath.Join("..", "..", "host", "testdata", task+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if got := Module(t, task); !bytes.Equal(got, want) {
			t.Errorf("testdata/%s.wasm differs from host/testdata/%s.wasm: copy it again", task, task)
		}
	}
}

// TestNewEnv checks the environment the suite relies on.
func TestNewEnv(t *testing.T) {
	env := NewEnv(t)
	if env.Next.Version <= env.Setup.Version {
		t.Fatalf("versions %d, %d", env.Setup.Version, env.Next.Version)
	}
	for _, v := range []int64{env.Setup.Version, env.Next.Version} {
		got, err := env.Dial(t).Setup(t.Context(), v)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []string{GroupCaller, GroupEcho, GroupLoop, GroupBad} {
			if _, ok := got.Group(g); !ok {
				t.Errorf("setup version %d has no group %q", v, g)
			}
		}
	}
}
