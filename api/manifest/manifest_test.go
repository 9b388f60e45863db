package manifest_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
)

// minimal is the smallest valid manifest.
const minimal = `
name: app
entry: A
tasks:
  - name: A
    source: tasks/a
`

func TestParseFillsDefaults(t *testing.T) {
	app, err := manifest.Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := &manifest.App{
		Name:  "app",
		Entry: "A",
		Tasks: []manifest.Task{{Name: "A", Source: "tasks/a", Lang: manifest.LangGo, Module: filepath.Join("build", "A.wasm")}},
		Objective: manifest.Objective{
			Latency:       "p50",
			LatencyWeight: 1,
			CostWeight:    1,
		},
	}
	if !reflect.DeepEqual(app, want) {
		t.Fatalf("Parse = %+v, want %+v", app, want)
	}
}

func TestParseKeepsWhatIsGiven(t *testing.T) {
	app, err := manifest.Parse([]byte(`
name: shop
entry: front
input: '{"q": 1}'
tasks:
  - name: front
    source: tasks/front
  - name: D
    source: tasks/d.wat
    lang: wat
    module: out/d.wasm
objective:
  latency: p95
  latencyWeight: 2
`))
	if err != nil {
		t.Fatal(err)
	}
	if app.Input != `{"q": 1}` {
		t.Errorf("Input = %q", app.Input)
	}
	d, ok := app.Task("D")
	if !ok || d.Lang != manifest.LangWAT || d.Module != "out/d.wasm" {
		t.Errorf("Task(D) = %+v, %v", d, ok)
	}
	// A weight given: the other stays 0, no default weights.
	if o := app.Objective; o.Latency != "p95" || o.LatencyWeight != 2 || o.CostWeight != 0 || o.LatencyBoundMs != 0 {
		t.Errorf("Objective = %+v", o)
	}
	if got := app.TaskNames(); !slices.Equal(got, []string{"front", "D"}) {
		t.Errorf("TaskNames = %v, want manifest order", got)
	}
	if _, ok := app.Task("nope"); ok {
		t.Error("Task finds a task that is not there")
	}
}

func TestBoundWithoutWeightsKeepsWeightsZero(t *testing.T) {
	app, err := manifest.Parse([]byte(minimal + "objective:\n  latencyBoundMs: 100\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o := app.Objective; o.LatencyBoundMs != 100 || o.LatencyWeight != 0 || o.CostWeight != 0 {
		t.Fatalf("Objective = %+v, want the bound alone", o)
	}
}

func TestParseRejects(t *testing.T) {
	task := func(lines ...string) string {
		return "  - " + strings.Join(lines, "\n    ") + "\n"
	}
	cases := []struct {
		name, yaml, msg string
	}{
		{"no name", "entry: A\ntasks:\n" + task("name: A", "source: a"), "no name"},
		{"no tasks", "name: app\nentry: A\n", `app "app" has no tasks`},
		{"empty task list", "name: app\nentry: A\ntasks: []\n", `app "app" has no tasks`},
		{"task name with a space", "name: app\nentry: A\ntasks:\n" + task("name: a b", "source: a"), `task name "a b"`},
		{"task name starting with a digit", "name: app\nentry: A\ntasks:\n" + task("name: 1a", "source: a"), `task name "1a"`},
		{"empty task name", "name: app\nentry: A\ntasks:\n" + task("source: a"), `task name ""`},
		{"task name too long", "name: app\nentry: A\ntasks:\n" + task("name: A"+strings.Repeat("x", 63), "source: a"), "task name"},
		{"duplicate task", "name: app\nentry: A\ntasks:\n" + task("name: A", "source: a") + task("name: A", "source: b"), `task "A" listed twice`},
		{"unknown lang", "name: app\nentry: A\ntasks:\n" + task("name: A", "source: a", "lang: rust"), `unknown lang "rust"`},
		{"missing source", "name: app\nentry: A\ntasks:\n" + task("name: A"), `task "A" has no source`},
		{"entry missing", "name: app\ntasks:\n" + task("name: A", "source: a"), `app "app" has no entry task`},
		{"entry unknown", "name: app\nentry: B\ntasks:\n" + task("name: A", "source: a"), `entry task "B" is not a task of app "app"`},
		{"bad objective latency", minimal + "objective:\n  latency: p99\n", `objective latency "p99"`},
		{"negative bound", minimal + "objective:\n  latencyBoundMs: -1\n", "must not be negative"},
		{"negative latency weight", minimal + "objective:\n  latencyWeight: -0.5\n", "must not be negative"},
		{"negative cost weight", minimal + "objective:\n  costWeight: -2\n", "must not be negative"},
		{"NaN bound", minimal + "objective:\n  latencyBoundMs: .nan\n", "must not be negative"},
		{"NaN weight", minimal + "objective:\n  costWeight: .NaN\n", "must not be negative"},
		{"unknown top-level field", minimal + "owner: me\n", "field owner not found"},
		{"unknown task field", "name: app\nentry: A\ntasks:\n" + task("name: A", "source: a", "memory: 128"), "field memory not found"},
		{"unknown objective field", minimal + "objective:\n  cost: low\n", "field cost not found"},
		{"wrong type", "name: app\nentry: A\ntasks: A\n", "cannot unmarshal"},
		{"not YAML", "name: [app\n", "did not find expected"},
		{"empty document", "", "EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app, err := manifest.Parse([]byte(c.yaml))
			if err == nil {
				t.Fatalf("Parse accepted %+v", app)
			}
			if !errors.Is(err, manifest.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
		})
	}
}

func TestValidTaskName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"A", true}, {"frontend", true}, {"get_ads-v2.1", true}, {"a" + strings.Repeat("b", 62), true},
		{"", false}, {"1a", false}, {"_a", false}, {"a b", false}, {"a/b", false}, {"é", false},
		{"a" + strings.Repeat("b", 63), false}, {"a\n", false},
	} {
		if got := manifest.ValidTaskName(c.name); got != c.ok {
			t.Errorf("ValidTaskName(%q) = %v, want %v", c.name, got, c.ok)
		}
	}
}

func TestLoad(t *testing.T) {
	check := func(t *testing.T, app *manifest.App, dir string) {
		t.Helper()
		if app.Dir != dir {
			t.Errorf("Dir = %q, want %q", app.Dir, dir)
		}
		if app.Name != "testapp" || app.Entry != "front" || app.Objective.Latency != "p95" || app.Objective.LatencyBoundMs != 250 {
			t.Errorf("Load = %+v", app)
		}
		front, _ := app.Task("front")
		back, _ := app.Task("back")
		if got, want := app.ModulePath(front), filepath.Join(dir, "build", "front.wasm"); got != want {
			t.Errorf("ModulePath(front) = %q, want %q", got, want)
		}
		if got, want := app.ModulePath(back), filepath.Join(dir, "out", "back.wasm"); got != want {
			t.Errorf("ModulePath(back) = %q, want %q", got, want)
		}
		if got, want := app.SourcePath(back), filepath.Join(dir, "tasks", "back.wat"); got != want {
			t.Errorf("SourcePath(back) = %q, want %q", got, want)
		}
	}
	dir := filepath.Join("testdata", "app")
	t.Run("from a dir", func(t *testing.T) {
		app, err := manifest.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		check(t, app, dir)
	})
	t.Run("from a file", func(t *testing.T) {
		app, err := manifest.Load(filepath.Join(dir, manifest.FileName))
		if err != nil {
			t.Fatal(err)
		}
		check(t, app, dir)
	})
	t.Run("from a renamed file", func(t *testing.T) {
		other := t.TempDir()
		data, err := os.ReadFile(filepath.Join(dir, manifest.FileName))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(other, "staging.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		app, err := manifest.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		check(t, app, other)
	})
	t.Run("a dir without a manifest", func(t *testing.T) {
		empty := t.TempDir()
		_, err := manifest.Load(empty)
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(empty, manifest.FileName)) {
			t.Fatalf("got %v, want a not-exist error naming the manifest path", err)
		}
	})
	t.Run("an invalid manifest names its file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), manifest.FileName)
		if err := os.WriteFile(path, []byte("name: x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := manifest.Load(path)
		if !errors.Is(err, manifest.ErrInvalid) || !strings.HasPrefix(err.Error(), path+": ") {
			t.Fatalf("got %v, want ErrInvalid naming %s", err, path)
		}
	})
}

func TestExampleManifestsLoad(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no example manifests found under ../../examples")
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			app, err := manifest.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if app.Name != filepath.Base(dir) {
				t.Errorf("app %q in folder %q", app.Name, filepath.Base(dir))
			}
			for i := range app.Tasks {
				task := &app.Tasks[i]
				if _, err := os.Stat(app.SourcePath(task)); err != nil {
					t.Errorf("task %s: source: %v", task.Name, err)
				}
			}
		})
	}
}

// FuzzParse feeds arbitrary bytes to Parse: it never panics, and a manifest
// it accepts names each task once, with the entry among them.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	for _, path := range []string{
		filepath.Join("testdata", "app", manifest.FileName),
		filepath.Join("..", "..", "examples", "tree", manifest.FileName),
		filepath.Join("..", "..", "examples", "iot", manifest.FileName),
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "---", "name: a\n---\nname: b\n", "&a [*a]", "name: *x", "{name: a, entry: A, tasks: [{name: A, source: s}]}",
		"name: a\nentry: A\ntasks:\n  - {name: A, source: s}\n  - {name: A, source: t}\n",
		"name: a\nentry: A\ntasks:\n  - {name: A, source: s}\nobjective: {latencyBoundMs: .nan}\n",
		"name: !!binary aGk=\nentry: A\ntasks: [{name: A, source: s}]\n",
		"tasks: [[[[[[[[[[]]]]]]]]]]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		app, err := manifest.Parse(data)
		if err != nil {
			if app != nil {
				t.Fatalf("Parse returned an app and an error: %v", err)
			}
			if !errors.Is(err, manifest.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		names := app.TaskNames()
		if len(names) == 0 {
			t.Fatal("accepted an app without tasks")
		}
		seen := make(map[string]bool, len(names))
		for _, n := range names {
			if seen[n] {
				t.Fatalf("task %q listed twice in %v", n, names)
			}
			if !manifest.ValidTaskName(n) {
				t.Fatalf("accepted task name %q", n)
			}
			seen[n] = true
		}
		if !seen[app.Entry] {
			t.Fatalf("entry %q is not among %v", app.Entry, names)
		}
		if o := app.Objective; !(o.LatencyBoundMs >= 0 && o.LatencyWeight >= 0 && o.CostWeight >= 0) {
			t.Fatalf("accepted objective %+v", o)
		}
		if o := app.Objective; o.LatencyBoundMs == 0 && o.LatencyWeight == 0 && o.CostWeight == 0 {
			t.Fatalf("accepted objective %+v that ranks every setup alike", o)
		}
		if err := app.Validate(); err != nil {
			t.Fatalf("a parsed app fails Validate: %v", err)
		}
	})
}

func TestParseDetectsAssemblyScriptByItsTsSource(t *testing.T) {
	app, err := manifest.Parse([]byte(`
name: mixed
entry: front
tasks:
  - name: front
    source: tasks/front.ts
  - name: dir
    source: tasks/dir
    lang: assemblyscript
  - name: back
    source: tasks/back
`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"front": manifest.LangAssemblyScript, "dir": manifest.LangAssemblyScript, "back": manifest.LangGo} {
		if tk, _ := app.Task(name); tk.Lang != want {
			t.Errorf("task %s: Lang = %q, want %q", name, tk.Lang, want)
		}
	}
	_, err = manifest.Parse([]byte("name: x\nentry: a\ntasks:\n  - name: a\n    source: a.rs\n    lang: rust\n"))
	if !errors.Is(err, manifest.ErrInvalid) || !strings.Contains(err.Error(), `task "a": unknown lang "rust"`) {
		t.Errorf("lang rust: error = %v, want ErrInvalid naming the task and the lang", err)
	}
}
