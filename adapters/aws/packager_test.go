package aws_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
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

// TestFusedPackageShipsTheFusedModuleAndItsCache: the package of a
// module-fused group holds its fused module (listed with its tasks) beside
// a task module, and the compilation cache of both; built twice it gives
// the same bytes. A fused module that lacks a task it claims fails the
// package naming that task.
func TestFusedPackageShipsTheFusedModuleAndItsCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Lambda bootstrap")
	}
	fused, err := os.ReadFile("../../host/testdata/fusedpair.wasm")
	if err != nil {
		t.Fatal(err)
	}
	echo, err := os.ReadFile("../adaptertest/testdata/echo.wasm")
	if err != nil {
		t.Fatal(err)
	}
	su := &setup.Setup{Version: 1, Groups: []setup.Group{{Name: "g", Tasks: []string{"fa", "fb", "echo"}, MemoryMB: 128, Place: setup.Place{Provider: "aws"}, Fusion: setup.FusionModule}}}
	cfg := lambdart.Config{App: "t", SetupVersion: 1, Group: "g", MemoryMB: 128, Setup: su}
	mods := []lambdart.Module{
		{Task: "fused-fa-fb", Tasks: []string{"fa", "fb"}, Digest: host.Digest(fused), Wasm: fused},
		{Task: "echo", Digest: host.Digest(echo), Wasm: echo},
	}
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
	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	var cacheFiles int
	var got lambdart.Config
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, lambdart.CacheDir+"/") && !strings.HasSuffix(f.Name, "/") {
			cacheFiles++
		}
		if f.Name == lambdart.ConfigFile {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			if err := json.NewDecoder(r).Decode(&got); err != nil {
				t.Fatal(err)
			}
			r.Close()
		}
	}
	if len(got.Modules) != 2 || got.Modules[1].Task != "fused-fa-fb" || !slices.Equal(got.Modules[1].Tasks, []string{"fa", "fb"}) || got.Modules[1].Path != "modules/fused-fa-fb.wasm" {
		t.Errorf("config lists %+v, want echo and fused-fa-fb holding fa, fb", got.Modules)
	}
	if cacheFiles < 2 {
		t.Errorf("%d compilation cache files, want one per module (2)", cacheFiles)
	}

	mods[0].Tasks = []string{"fa", "fb", "fc"}
	if _, _, err := p.Build(ctx, "x86_64", cfg, mods); !errors.Is(err, aws.ErrModule) || !strings.Contains(err.Error(), `task "fc"`) {
		t.Errorf("a fused module lacking a task it claims: %v, want ErrModule naming fc", err)
	}
}
