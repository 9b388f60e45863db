package lambda

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/fusionize/fusionize/api/setup"
)

func TestWriteSmokePackage(t *testing.T) {
	out := os.Getenv("SMOKE_OUT")
	if out == "" {
		t.Skip()
	}
	wasm, err := os.ReadFile("../../host/testdata/echo.wasm")
	if err != nil {
		t.Fatal(err)
	}
	boot, err := os.ReadFile(os.Getenv("SMOKE_BOOT"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	su := setup.Separate(1, []string{"echo"}, setup.Place{Provider: "aws"}, 128)
	sj, _ := json.Marshal(su)
	var buf bytes.Buffer
	info, err := Package{Bootstrap: boot, Config: Config{App: "t", SetupVersion: 1, Group: "echo", MemoryMB: 128, Setup: sj}, Modules: []Module{{Task: "echo", Digest: "sha256:" + hex.EncodeToString(sum[:]), Wasm: wasm}}}.Write(&buf)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(info)
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
