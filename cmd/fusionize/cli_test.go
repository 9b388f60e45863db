package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/fusionize/fusionize/api"
)

// TestConfigFromEnvAndFile: a flag not given on the command line comes from
// FUSIONIZE_<FLAG>, else from the config file; the command line wins; an
// unknown setting in the file is an error naming it.
func TestConfigFromEnvAndFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "fusionize.config.yaml")
	if err := os.WriteFile(cfg, []byte("requests: 42\nconcurrency: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got loopFlags
	newCmd := func() *cobra.Command {
		root := newRoot()
		c := &cobra.Command{Use: "probe", RunE: func(*cobra.Command, []string) error { return nil }}
		got = loopFlags{}
		got.register(c, optimizeDefaults)
		root.AddCommand(c)
		return root
	}
	run := func(args ...string) error {
		root := newCmd()
		root.SetArgs(args)
		root.SetOut(&bytes.Buffer{})
		return root.Execute()
	}
	t.Setenv("FUSIONIZE_CONCURRENCY", "5")
	if err := run("probe", "--config", cfg); err != nil {
		t.Fatal(err)
	}
	if got.requests != 42 || got.concurrency != 5 {
		t.Fatalf("file and env: requests %d (want 42 from the file), concurrency %d (want 5 from the env)", got.requests, got.concurrency)
	}
	if err := run("probe", "--config", cfg, "--concurrency", "7"); err != nil {
		t.Fatal(err)
	}
	if got.concurrency != 7 {
		t.Fatalf("command line: concurrency %d, want 7", got.concurrency)
	}
	if err := os.WriteFile(cfg, []byte("requestz: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run("probe", "--config", cfg); err == nil || !strings.Contains(err.Error(), `unknown setting "requestz"`) {
		t.Fatalf("unknown setting: %v", err)
	}
	t.Setenv("FUSIONIZE_REQUESTS", "many")
	if err := run("probe"); err == nil || !strings.Contains(err.Error(), "FUSIONIZE_REQUESTS") {
		t.Fatalf("bad env value: %v", err)
	}
}

// TestRunPrintsResultAndSpans runs `fusionize run` on the tree app: the
// result and one span row per task invocation, async ones included.
func TestRunPrintsResultAndSpans(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and the tree app")
	}
	requireBuildTools(t, filepath.Join("..", "..", "examples", "tree"))
	buildBinary(t)
	cmd := exec.Command(binary, "--data-dir", filepath.Join(os.TempDir(), "fusionize-test"), "run", filepath.Join("..", "..", "examples", "tree"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fusionize run: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"result (", `"e":`, "TASK", "entry", "sync", "async"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	for _, task := range []string{"A", "B", "C", "D", "E", "F", "G"} {
		if !strings.Contains(text, "\n"+task+" ") && !strings.Contains(text, " "+task+" ") {
			t.Errorf("no span row for %s:\n%s", task, text)
		}
	}
}

// TestRunNamesTheLoopingCallee: in `fusionize run`, a sync callee that
// never returns is named in the error, not the entry task that called it.
func TestRunNamesTheLoopingCallee(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("needs wat2wasm (scripts/install-tools.sh --with-wabt)")
	}
	dir := t.TempDir()
	for name, src := range map[string]string{"caller.wat": "caller.wat", "spin.wat": "loop.wat"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "host", "testdata", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// caller.wat calls the task named "echo": here, the endless loop.
	manifestYAML := "name: loopy\nentry: caller\ninput: x\ntasks:\n" +
		"  - name: caller\n    source: caller.wat\n    lang: wat\n" +
		"  - name: echo\n    source: spin.wat\n    lang: wat\n"
	if err := os.WriteFile(filepath.Join(dir, "fusionize.yaml"), []byte(manifestYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	root := newRoot()
	root.SetArgs([]string{"--data-dir", filepath.Join(dir, ".fusionize"), "run", dir, "--timeout", "300ms"})
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), `task "echo" on host local: stopped by its deadline (in a sync call from task "caller")`) {
		t.Fatalf("got %v, want the deadline error of the callee echo", err)
	}
}

// TestPrometheusSDListsHostsThatServeMetrics: the file_sd output has one
// target group per host with a metrics address, sorted by host, labelled
// with app, group, host and setup version; hosts without one are left out, and no hosts
// give an empty list (which Prometheus accepts), not null.
func TestPrometheusSDListsHostsThatServeMetrics(t *testing.T) {
	b, err := prometheusSD("iot", []api.HostInfo{
		{Name: "I@v2", Group: "I", Address: "127.0.0.1:9000", SetupVersion: 2, MetricsAddress: "127.0.0.1:9001"},
		{Name: "CA@v2", Group: "CA", Address: "127.0.0.1:9002", SetupVersion: 2, MetricsAddress: "127.0.0.1:9003"},
		{Name: "old", Group: "X", Address: "127.0.0.1:9004"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []sdTargetGroup
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	want := []sdTargetGroup{
		{Targets: []string{"127.0.0.1:9003"}, Labels: map[string]string{"fusionize_app": "iot", "fusionize_group": "CA", "fusionize_host": "CA@v2", "fusionize_setup_version": "2"}},
		{Targets: []string{"127.0.0.1:9001"}, Labels: map[string]string{"fusionize_app": "iot", "fusionize_group": "I", "fusionize_host": "I@v2", "fusionize_setup_version": "2"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("prometheus-sd = %+v, want %+v", got, want)
	}
	if b, err := prometheusSD("iot", nil); err != nil || strings.TrimSpace(string(b)) != "[]" {
		t.Fatalf("no hosts: %q, %v; want []", b, err)
	}
}
