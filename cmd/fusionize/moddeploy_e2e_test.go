//go:build emulated

package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoDeploysAModuleFusedGroupThatServes runs `fusionize demo` on IoT,
// whose tasks are all Go: the model strategy module-fuses the groups of two
// or more tasks it proposes, the deployer builds their fused modules, and
// the emulated Lambda functions serve the loop's load on them with no
// failed request. The output marks those groups "[module]".
func TestDemoDeploysAModuleFusedGroupThatServes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds IoT, its fused modules and the Lambda bootstrap, runs the demo on the emulators")
	}
	iot := filepath.Join("..", "..", "examples", "iot")
	requireBuildTools(t, iot)
	buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, binary, "--data-dir", t.TempDir(), "demo", iot,
		"--requests", "24", "--concurrency", "2", "--max-deployments", "2").CombinedOutput()
	t.Logf("demo took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	text := string(out)
	// Only the windows of module-fused setups count: the baseline's ten
	// functions are not this test's subject.
	failed := regexp.MustCompile(`\(\d+ failed\)|^ *#\d+ failed:`)
	var deployed, measured, inModule bool
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "deploying"):
			inModule = strings.Contains(line, "[module]")
			deployed = deployed || inModule
		case regexp.MustCompile(`^\d+ +(kept|same|rollback|baseline)\b.*\[module\]`).MatchString(line):
			measured = true
		case inModule && failed.MatchString(line):
			t.Errorf("a module-fused setup failed requests: %q", line)
		}
	}
	if !deployed || !measured {
		t.Errorf("no module-fused group deployed (%v) and measured (%v):\n%s", deployed, measured, text)
	}
	if t.Failed() {
		t.Log(text)
	}
}
