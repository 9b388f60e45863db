package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/guest-sdk/build"
)

func init() { extraCommands = append(extraCommands, newNewCmd) }

// langs are the languages `fusionize new` scaffolds tasks in.
var langs = []string{manifest.LangGo, manifest.LangAssemblyScript}

func newNewCmd() *cobra.Command {
	var lang, taskName, checkout string
	cmd := &cobra.Command{
		Use:   "new <app-dir>",
		Short: "Create an app of one task that builds and runs at once (and 'new task' adds one)",
		Long: `Creates <app-dir> with a fusionize.yaml and one task (named by --task, in the
language --lang) that answers "hello from <task>: <input>". Then

  fusionize build <app-dir>
  fusionize run <app-dir>

build it and run it. Outside this repository's Go module, <app-dir> also gets a
go.mod whose replace directive points at the Fusionize checkout (--fusionize,
default the checkout the working directory or this executable is in): Go tasks
get the Go SDK from it and AssemblyScript tasks the AssemblyScript SDK.

'fusionize new task <name>' adds a task to an existing app.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return scaffoldApp(cmd, args[0], taskName, lang, checkout)
		},
	}
	cmd.Flags().StringVar(&lang, "lang", manifest.LangGo, "language of the task: "+strings.Join(langs, " or "))
	cmd.Flags().StringVar(&taskName, "task", "hello", "name of the task")
	cmd.Flags().StringVar(&checkout, "fusionize", "", "the Fusionize checkout the app's go.mod points at (default: found from the working directory or this executable)")

	var appDir string
	add := &cobra.Command{
		Use:   "task <name>",
		Short: "Add a task to an app: its source under tasks/<name> and its entry in fusionize.yaml",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return scaffoldTask(cmd, appDir, args[0], lang)
		},
	}
	add.Flags().StringVar(&lang, "lang", manifest.LangGo, "language of the task: "+strings.Join(langs, " or "))
	add.Flags().StringVar(&appDir, "app", ".", "the app's folder")
	cmd.AddCommand(add)
	return cmd
}

// scaffoldApp writes a new app of one task into dir, which must not exist
// or be empty.
func scaffoldApp(cmd *cobra.Command, dir, taskName, lang, checkout string) error {
	name := filepath.Base(filepath.Clean(dir))
	if !manifest.ValidTaskName(name) {
		return fmt.Errorf("new: app name %q (the folder's name): want a letter, then letters, digits, '_', '.' or '-'", name)
	}
	if err := checkTask(taskName, lang); err != nil {
		return err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("new: %s exists and is not empty", dir)
	}
	gomod, err := goMod(dir, name, checkout)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("new: %w", err)
	}
	files := map[string]string{
		manifest.FileName: render(manifestTemplate, map[string]string{"App": name, "Task": taskName, "Lang": lang, "Dir": dir}),
		".gitignore":      "/build/\n/.fusionize/\n",
	}
	if gomod != "" {
		files["go.mod"] = gomod
	}
	for path, content := range files {
		if err := os.WriteFile(filepath.Join(dir, path), []byte(content), 0o644); err != nil {
			return fmt.Errorf("new: %w", err)
		}
	}
	if err := writeTask(dir, taskName, lang); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "created app %s in %s with task %s (%s)\n  fusionize build %s\n  fusionize run %s\n", name, dir, taskName, lang, dir, dir)
	return nil
}

// scaffoldTask adds task name in lang to the app in dir.
func scaffoldTask(cmd *cobra.Command, dir, name, lang string) error {
	app, err := manifest.Load(dir)
	if err != nil {
		return fmt.Errorf("new task: %w", err)
	}
	if err := checkTask(name, lang); err != nil {
		return err
	}
	if _, ok := app.Task(name); ok {
		return fmt.Errorf("new task: app %s already has a task %q", app.Name, name)
	}
	if _, err := os.Stat(filepath.Join(dir, "tasks", name)); err == nil {
		return fmt.Errorf("new task: %s already exists", filepath.Join(dir, "tasks", name))
	}
	path := filepath.Join(dir, manifest.FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("new task: %w", err)
	}
	data, err = appendTask(data, manifest.Task{Name: name, Source: "tasks/" + name, Lang: lang})
	if err != nil {
		return fmt.Errorf("new task: %s: %w", path, err)
	}
	if _, err := manifest.Parse(data); err != nil {
		return fmt.Errorf("new task: %s would become invalid: %w", path, err)
	}
	if err := writeTask(dir, name, lang); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("new task: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "added task %s (%s) to app %s: tasks/%s\n", name, lang, app.Name, name)
	return nil
}

func checkTask(name, lang string) error {
	if !manifest.ValidTaskName(name) {
		return fmt.Errorf("new: task name %q: want a letter, then letters, digits, '_', '.' or '-'", name)
	}
	for _, l := range langs {
		if lang == l {
			return nil
		}
	}
	return fmt.Errorf("new: task %q: unknown --lang %q (want %s)", name, lang, strings.Join(langs, " or "))
}

// appendTask adds t to the tasks list of the manifest text data, keeping
// the rest of the document (comments included) as it is.
func appendTask(data []byte, t manifest.Task) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a YAML mapping")
	}
	root := doc.Content[0]
	var tasks *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "tasks" {
			tasks = root.Content[i+1]
		}
	}
	if tasks == nil || tasks.Kind != yaml.SequenceNode {
		return nil, errors.New("no tasks list")
	}
	var item yaml.Node
	if err := item.Encode(t); err != nil {
		return nil, err
	}
	tasks.Content = append(tasks.Content, &item)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// writeTask writes the source of task name in lang under dir/tasks/name.
func writeTask(dir, name, lang string) error {
	src := filepath.Join(dir, "tasks", name)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return fmt.Errorf("new: %w", err)
	}
	file, tmpl := "main.go", goTaskTemplate
	if lang == manifest.LangAssemblyScript {
		file, tmpl = "index.ts", asTaskTemplate
	}
	if err := os.WriteFile(filepath.Join(src, file), []byte(render(tmpl, map[string]string{"Task": name})), 0o644); err != nil {
		return fmt.Errorf("new: %w", err)
	}
	return nil
}

// goMod returns the go.mod an app in dir needs: none inside the Fusionize
// module itself (its tasks build in that module, as the examples do), else
// a module of its own whose replace directive points at the checkout.
func goMod(dir, name, checkout string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("new: %w", err)
	}
	if m := enclosingModule(abs); m != "" && build.Checkout(m) == m {
		return "", nil
	}
	if checkout == "" {
		checkout = findCheckout()
	}
	if checkout == "" {
		return "", errors.New("new: no Fusionize checkout found from the working directory or this executable: pass --fusionize <dir> (a clone of the Fusionize repository)")
	}
	checkout, err = filepath.Abs(checkout)
	if err != nil {
		return "", fmt.Errorf("new: %w", err)
	}
	goVersion, err := checkoutGoVersion(checkout)
	if err != nil {
		return "", err
	}
	return render(goModTemplate, map[string]string{"App": name, "Go": goVersion, "Checkout": checkout}), nil
}

// enclosingModule is the folder of the nearest go.mod at or above dir, or "".
func enclosingModule(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// findCheckout looks for a Fusionize checkout above the working directory,
// then above this executable (bin/fusionize of a checkout).
func findCheckout() string {
	if wd, err := os.Getwd(); err == nil {
		if root := build.Checkout(wd); root != "" {
			return root
		}
	}
	if exe, err := os.Executable(); err == nil {
		if root := build.Checkout(filepath.Dir(exe)); root != "" {
			return root
		}
	}
	return ""
}

// checkoutGoVersion is the go directive of the checkout's go.mod, which
// the app's go.mod repeats (a lower one would make the go command ask for
// go mod tidy).
func checkoutGoVersion(checkout string) (string, error) {
	data, err := os.ReadFile(filepath.Join(checkout, "go.mod"))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("new: --fusionize %s is not a Fusionize checkout (it has no go.mod)", checkout)
	}
	if err != nil {
		return "", fmt.Errorf("new: --fusionize %s: %w", checkout, err)
	}
	isFusionize := false
	version := ""
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" {
			isFusionize = f[1] == "github.com/fusionize/fusionize"
		}
		if len(f) == 2 && f[0] == "go" {
			version = f[1]
		}
	}
	if !isFusionize || version == "" {
		return "", fmt.Errorf("new: --fusionize %s is not a Fusionize checkout (its go.mod is not module github.com/fusionize/fusionize)", checkout)
	}
	return version, nil
}

func render(tmpl string, data map[string]string) string {
	var b strings.Builder
	if err := template.Must(template.New("").Parse(tmpl)).Execute(&b, data); err != nil {
		panic(err) // the templates are constants of this file
	}
	return b.String()
}

const manifestTemplate = `# The app {{.App}}, created by 'fusionize new'. Add tasks with
# 'fusionize new task <name> --lang go|assemblyscript --app {{.Dir}}'.
name: {{.App}}
entry: {{.Task}}
input: '{"name":"world"}'
tasks:
  - name: {{.Task}}
    source: tasks/{{.Task}}
    lang: {{.Lang}}
objective:
  latency: p95
`

const goModTemplate = `module {{.App}}

go {{.Go}}

require github.com/fusionize/fusionize v0.0.0

// The Fusionize SDKs come from a local checkout: the Go SDK for Go tasks,
// and 'fusionize build' finds the AssemblyScript SDK there too.
replace github.com/fusionize/fusionize => {{.Checkout}}
`

const goTaskTemplate = `// Task {{.Task}}: answers "hello from {{.Task}}: <input>". Call another task
// with task.Call("name", input) (sync) or task.CallAsync (fire and forget);
// see the package github.com/fusionize/fusionize/guest-sdk/go/task.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		task.Log(task.LevelInfo, "{{.Task}} called")
		return append([]byte("hello from {{.Task}}: "), in...), nil
	})
}

func main() {}
`

const asTaskTemplate = `// Task {{.Task}}: answers "hello from {{.Task}}: <input>". Call another task
// with call("name", input) (sync) or callAsync (fire and forget); see
// guest-sdk/assemblyscript/README.md of the Fusionize repository.
import { handle, log, Level, bytes, concat } from "@fusionize/task";
export { fusionize_abi_version, fusionize_alloc, fusionize_handle } from "@fusionize/task";

handle((input: Uint8Array): Uint8Array => {
  log(Level.Info, "{{.Task}} called");
  return concat([bytes("hello from {{.Task}}: "), input]);
});
`
