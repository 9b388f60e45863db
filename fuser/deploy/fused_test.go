package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/deploy"
	"github.com/fusionize/fusionize/guest-sdk/build"
)

// TestFusedModulesStoresTheFusedModuleOfEachModuleFusedGroup: before a
// setup with a module-fused group deploys, the hook builds the fused module
// of the group's Go tasks and stores it under its fused name with its
// tasks; a module-fused group with nothing to fuse fails the switch naming
// the group, and nothing of it deploys.
func TestFusedModulesStoresTheFusedModuleOfEachModuleFusedGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a fused Go module")
	}
	app, err := manifest.Load(filepath.Join("..", "..", "guest-sdk", "build", "testdata", "fuse"))
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(t)
	local := &fake{name: "local", providers: []string{"local"}, deployed: map[string]bool{}}
	prep := deploy.FusedModules(app, st, deploy.FusedOptions{Build: build.Options{CacheDir: filepath.Join(os.TempDir(), "fusionize-test", "fused")}})
	d := deploy.New(st, adapters.Adapters{"local": local}, deploy.Options{App: "fuse", Prepare: prep})
	su := &setup.Setup{Groups: []setup.Group{{Name: "g", Tasks: []string{"world", "hello"}, Place: setup.Place{Provider: "local"}, Fusion: setup.FusionModule}}}
	v, err := st.ApplySetup(su)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Switch(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	info, err := st.ModuleFor("fused-hello-world")
	if err != nil || !slices.Equal(info.Tasks, []string{"hello", "world"}) {
		t.Fatalf("stored fused module %+v, %v; want fused-hello-world holding hello, world", info, err)
	}

	bad := &setup.Setup{Groups: []setup.Group{{Name: "x", Tasks: []string{"nope"}, Place: setup.Place{Provider: "local"}, Fusion: setup.FusionModule}}}
	v, err = st.ApplySetup(bad)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Switch(t.Context(), v)
	if err == nil || !strings.Contains(err.Error(), `group "x" is module-fused`) {
		t.Errorf("a module-fused group with nothing to fuse: %v, want an error naming it", err)
	}
	if local.deployed[adapters.ID("x", v)] {
		t.Error("the group of the failed switch was deployed")
	}
}
