package api_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestVocabularyImportsOnlyTheStandardLibrary keeps api the leaf every
// package may import: api, api/setup and api/span link the standard library
// and each other only; api/manifest adds one parser, gopkg.in/yaml.v3, for
// the fusionize.yaml it describes (RATIONALE.md, "Why does api/manifest
// import a YAML parser?").
func TestVocabularyImportsOnlyTheStandardLibrary(t *testing.T) {
	allowed := map[string][]string{
		".":           nil,
		"./setup":     nil,
		"./span":      nil,
		"./rtt":       nil,
		"./manifest/": {"gopkg.in/yaml.v3"},
	}
	for pkg, extra := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", strings.TrimSuffix(pkg, "/")).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/fusionize/fusionize/api") {
				continue
			}
			ok := false
			for _, e := range extra {
				ok = ok || dep == e
			}
			if !ok {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
