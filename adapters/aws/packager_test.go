package aws_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/host"
	lambdart "github.com/fusionize/fusionize/runtime/lambda"
)

func TestSamePackageGivesSameBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Lambda bootstrap")
	}
	wasm, err := os.ReadFile("../adaptertest/testdata/echo.wasm")
	if err != nil {
		t.Fatal(err)
	}
	su := setup.Separate(1, []string{"echo"}, setup.Place{Provider: "aws"}, 128)
	cfg := lambdart.Config{App: "t", SetupVersion: 1, Group: "echo", MemoryMB: 128, Setup: su}
	mods := []lambdart.Module{{Task: "echo", Digest: host.Digest(wasm), Wasm: wasm}}
	p := sharedPackager(t)
	ctx := context.Background()
	a, ia, err := p.Build(ctx, "x86_64", cfg, mods)
	if err != nil {
		t.Fatal(err)
	}
	b, ib, err := p.Build(ctx, "x86_64", cfg, mods)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || ia != ib {
		t.Fatalf("two builds differ: %+v vs %+v", ia, ib)
	}
	t.Logf("package of one WAT task: %d bytes, sha256 %s, %d files", ia.Size, ia.SHA256, ia.Files)
	if ia.Files < 4 { // bootstrap, config, module, at least one cache file
		t.Fatalf("package has %d files, want the bootstrap, config, module and its compilation cache", ia.Files)
	}
}

func TestBadModuleFailsThePackageNamingItsTask(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Lambda bootstrap")
	}
	bad := []byte("\x00asm\x01\x00\x00\x00garbage")
	su := setup.Separate(1, []string{"broken"}, setup.Place{Provider: "aws"}, 128)
	cfg := lambdart.Config{App: "t", SetupVersion: 1, Group: "broken", MemoryMB: 128, Setup: su}
	_, _, err := sharedPackager(t).Build(context.Background(), "x86_64", cfg, []lambdart.Module{{Task: "broken", Digest: host.Digest(bad), Wasm: bad}})
	if !errors.Is(err, aws.ErrModule) || !bytes.Contains([]byte(err.Error()), []byte("bad module")) || !bytes.Contains([]byte(err.Error()), []byte(`task "broken"`)) {
		t.Fatalf("err = %v, want ErrModule saying bad module and naming task broken", err)
	}
}
