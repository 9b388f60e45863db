// Package manifest reads an application manifest: the tasks of an app, where
// each task's source and module live, the entry task and the objective the
// fuser optimizes for.
//
// A manifest is the file fusionize.yaml at the root of an app folder:
//
//	name: tree
//	entry: A
//	input: '{"n": 3}'
//	tasks:
//	  - name: A
//	    source: tasks/a      # Go package (lang go) or .wat file (lang wat)
//	  - name: C
//	    source: tasks/c.wat
//	    lang: wat
//	  - name: D
//	    source: tasks/d.ts   # AssemblyScript: a .ts entry file (lang assemblyscript)
//	objective:
//	  latency: p95
//	  latencyBoundMs: 200
//
// Modules are built to build/<task>.wasm under the app folder unless a task
// names its module.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// FileName is the manifest's name inside an app folder.
const FileName = "fusionize.yaml"

// Languages a task's source may be written in.
const (
	LangGo  = "go"
	LangWAT = "wat"
	// LangAssemblyScript is an AssemblyScript entry file (.ts) or a folder
	// holding index.ts, built with the SDK in guest-sdk/assemblyscript.
	LangAssemblyScript = "assemblyscript"
)

// Task is one task of an app.
type Task struct {
	Name   string `yaml:"name"`
	Source string `yaml:"source"`           // relative to the app folder
	Lang   string `yaml:"lang,omitempty"`   // "go" (default; "assemblyscript" for a .ts source), "wat" or "assemblyscript"
	Module string `yaml:"module,omitempty"` // relative path of the built module; default build/<name>.wasm
}

// Objective says what the fuser optimizes.
type Objective struct {
	// Latency is the percentile the bound and the weight refer to: "p50" or "p95".
	Latency string `yaml:"latency,omitempty"`
	// LatencyBoundMs, when positive, asks for the least cost whose latency
	// percentile stays within the bound.
	LatencyBoundMs float64 `yaml:"latencyBoundMs,omitempty"`
	// LatencyWeight and CostWeight define a weighted sum when no bound is set:
	// LatencyWeight × latency(ms) + CostWeight × cost($ per million requests).
	LatencyWeight float64 `yaml:"latencyWeight,omitempty"`
	CostWeight    float64 `yaml:"costWeight,omitempty"`
}

// App is a parsed manifest.
type App struct {
	Name      string    `yaml:"name"`
	Entry     string    `yaml:"entry"`
	Input     string    `yaml:"input,omitempty"` // default request for run and demo
	Tasks     []Task    `yaml:"tasks"`
	Objective Objective `yaml:"objective,omitempty"`

	// Dir is the app folder the manifest was loaded from.
	Dir string `yaml:"-"`
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("manifest: invalid")

var taskName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,62}$`)

// ValidTaskName reports whether name may name a task: a letter, then up to
// 62 letters, digits, '_', '.' or '-'.
func ValidTaskName(name string) bool { return taskName.MatchString(name) }

// Load reads dir/fusionize.yaml, or the file itself when path names a file.
func Load(path string) (*App, error) {
	file := path
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		file = filepath.Join(path, FileName)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	app, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	app.Dir = filepath.Dir(file)
	return app, nil
}

// Parse decodes and validates a manifest. Unknown fields are rejected.
func Parse(data []byte) (*App, error) {
	var app App
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&app); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := app.Validate(); err != nil {
		return nil, err
	}
	return &app, nil
}

// Validate checks names, languages, the entry task and the objective.
func (a *App) Validate() error {
	if a.Name == "" {
		return fmt.Errorf("%w: no name", ErrInvalid)
	}
	if len(a.Tasks) == 0 {
		return fmt.Errorf("%w: app %q has no tasks", ErrInvalid, a.Name)
	}
	seen := make(map[string]bool)
	for i := range a.Tasks {
		t := &a.Tasks[i]
		if !ValidTaskName(t.Name) {
			return fmt.Errorf("%w: task name %q", ErrInvalid, t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("%w: task %q listed twice", ErrInvalid, t.Name)
		}
		seen[t.Name] = true
		if t.Lang == "" {
			t.Lang = LangGo
			if strings.HasSuffix(t.Source, ".ts") {
				t.Lang = LangAssemblyScript
			}
		}
		if t.Lang != LangGo && t.Lang != LangWAT && t.Lang != LangAssemblyScript {
			return fmt.Errorf("%w: task %q: unknown lang %q (want go, wat or assemblyscript)", ErrInvalid, t.Name, t.Lang)
		}
		if t.Source == "" {
			return fmt.Errorf("%w: task %q has no source", ErrInvalid, t.Name)
		}
		if t.Module == "" {
			t.Module = filepath.Join("build", t.Name+".wasm")
		}
	}
	if a.Entry == "" {
		return fmt.Errorf("%w: app %q has no entry task", ErrInvalid, a.Name)
	}
	if !seen[a.Entry] {
		return fmt.Errorf("%w: entry task %q is not a task of app %q", ErrInvalid, a.Entry, a.Name)
	}
	switch a.Objective.Latency {
	case "":
		a.Objective.Latency = "p50"
	case "p50", "p95":
	default:
		return fmt.Errorf("%w: objective latency %q (want p50 or p95)", ErrInvalid, a.Objective.Latency)
	}
	if !(a.Objective.LatencyBoundMs >= 0 && a.Objective.LatencyWeight >= 0 && a.Objective.CostWeight >= 0) { // also refuses NaN
		return fmt.Errorf("%w: objective values must not be negative", ErrInvalid)
	}
	if a.Objective.LatencyBoundMs == 0 && a.Objective.LatencyWeight == 0 && a.Objective.CostWeight == 0 {
		a.Objective.LatencyWeight, a.Objective.CostWeight = 1, 1
	}
	return nil
}

// TaskNames returns the names of the app's tasks in manifest order.
func (a *App) TaskNames() []string {
	out := make([]string, len(a.Tasks))
	for i, t := range a.Tasks {
		out[i] = t.Name
	}
	return out
}

// Task returns the task named name.
func (a *App) Task(name string) (*Task, bool) {
	for i := range a.Tasks {
		if a.Tasks[i].Name == name {
			return &a.Tasks[i], true
		}
	}
	return nil, false
}

// ModulePath returns the absolute-or-relative path of task t's module file.
func (a *App) ModulePath(t *Task) string { return filepath.Join(a.Dir, t.Module) }

// SourcePath returns the path of task t's source.
func (a *App) SourcePath(t *Task) string { return filepath.Join(a.Dir, t.Source) }
