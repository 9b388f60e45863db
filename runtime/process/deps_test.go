package process_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestHostProcessLinksNoControlPlaneServerFuserOrEmulator keeps the host
// process (and the Lambda bootstrap, the host inside an execution
// environment) small and platform-neutral: what starts a host links the control
// plane's client, never its server or store (bbolt), the fuser (optimizer,
// analytics, cost model, profiles) or an emulator.
func TestHostProcessLinksNoControlPlaneServerFuserOrEmulator(t *testing.T) {
	const mod = "github.com/fusionize/fusionize/"
	forbidden := []string{
		"go.etcd.io/bbolt",
		mod + "controlplane/server",
		mod + "controlplane/store",
		mod + "fuser/",
		mod + "emulators/",
		mod + "adapters",
		mod + "cmd/",
	}
	for _, pkg := range []string{".", "../../runtime", "../lambda/bootstrap", "../gcf"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s links %s", pkg, dep)
				}
			}
		}
	}
}
