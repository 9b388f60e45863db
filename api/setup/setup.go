// Package setup defines a fusion setup: the versioned assignment of every
// task of an application to exactly one fusion group, with each group's
// memory size and place (provider, region).
//
// Routing follows from it: a call whose callee is in the caller's group runs
// in memory; any other call goes to the host of the callee's group.
//
//	s := setup.Separate(1, []string{"A", "B", "C"}, setup.Place{Provider: "local"}, 128)
//	g, _ := s.GroupOf("B") // g.Name == "B"
package setup

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Place says where a group runs.
type Place struct {
	Provider string `json:"provider"`         // "local", "aws", "gcp"
	Region   string `json:"region,omitempty"` // e.g. "us-east-1"
	Arch     string `json:"arch,omitempty"`   // "x86_64" (default) or "arm64"
}

// String returns "provider/region" or just the provider.
func (p Place) String() string {
	if p.Region == "" {
		return p.Provider
	}
	return p.Provider + "/" + p.Region
}

// Group is a set of tasks deployed together in one host.
type Group struct {
	Name     string   `json:"name"`
	Tasks    []string `json:"tasks"`
	MemoryMB int      `json:"memoryMB"`
	Place    Place    `json:"place"`
	// Fusion is how the group's tasks share the host: FusionInstance (or
	// "") gives each task its own module and instances; FusionModule links
	// the group's Go tasks into one module with one runtime (other
	// languages keep their own modules).
	Fusion string `json:"fusion,omitempty"`
}

// The levels of fusion a group can have (Group.Fusion).
const (
	FusionInstance = "instance"
	FusionModule   = "module"
)

// ModuleFused reports whether g links its Go tasks into one module.
func (g *Group) ModuleFused() bool { return g.Fusion == FusionModule }

// ErrIsolated is returned by ValidateIsolation for a module-fused group
// that holds a task the manifest isolates.
var ErrIsolated = errors.New("setup: isolated task in a module-fused group")

// ValidateIsolation reports every module-fused group that holds one of the
// isolated tasks (manifest.App.IsolatedTasks): a task that must not share
// a module, and so a runtime and its memory, with other tasks.
func (s *Setup) ValidateIsolation(isolated []string) error {
	iso := make(map[string]bool, len(isolated))
	for _, t := range isolated {
		iso[t] = true
	}
	var errs []error
	for _, g := range s.Groups {
		if !g.ModuleFused() {
			continue
		}
		for _, t := range g.Tasks {
			if iso[t] {
				errs = append(errs, fmt.Errorf("%w: task %q is isolated, and group %q is module-fused", ErrIsolated, t, g.Name))
			}
		}
	}
	return join(errs)
}

// Setup is a versioned assignment of tasks to groups.
type Setup struct {
	Version int64   `json:"version"`
	Groups  []Group `json:"groups"`
}

// Errors returned by Validate.
var (
	ErrEmptyGroup    = errors.New("setup: empty group")
	ErrDuplicateTask = errors.New("setup: task in more than one group")
	ErrUnknownTask   = errors.New("setup: unknown task")
	ErrMissingTask   = errors.New("setup: task not assigned to any group")
	ErrBadGroup      = errors.New("setup: bad group")
	ErrNoGroups      = errors.New("setup: no groups: every host would stop and the app go down")
)

// Separate returns the paper's initial setup: every task in its own group,
// named after the task.
func Separate(version int64, tasks []string, place Place, memoryMB int) *Setup {
	s := &Setup{Version: version}
	for _, t := range tasks {
		s.Groups = append(s.Groups, Group{Name: t, Tasks: []string{t}, MemoryMB: memoryMB, Place: place})
	}
	return s
}

// Fused returns a setup with every task in one group named name.
func Fused(version int64, name string, tasks []string, place Place, memoryMB int) *Setup {
	return &Setup{Version: version, Groups: []Group{{Name: name, Tasks: slices.Clone(tasks), MemoryMB: memoryMB, Place: place}}}
}

// GroupOf returns the group that holds task.
func (s *Setup) GroupOf(task string) (*Group, bool) {
	for i := range s.Groups {
		if slices.Contains(s.Groups[i].Tasks, task) {
			return &s.Groups[i], true
		}
	}
	return nil, false
}

// Group returns the group named name.
func (s *Setup) Group(name string) (*Group, bool) {
	for i := range s.Groups {
		if s.Groups[i].Name == name {
			return &s.Groups[i], true
		}
	}
	return nil, false
}

// Assignment maps every task to the name of its group.
func (s *Setup) Assignment() map[string]string {
	m := make(map[string]string)
	for _, g := range s.Groups {
		for _, t := range g.Tasks {
			m[t] = g.Name
		}
	}
	return m
}

// Validate checks that every task in tasks is in exactly one group, that no
// group is empty or unnamed, that group names are unique and that no group
// holds a task outside tasks. A nil tasks skips the completeness checks.
// It reports every problem it finds, not only the first: the error joins
// one error per kind of problem (test each with errors.Is), and each lists
// all the groups or tasks it concerns.
func (s *Setup) Validate(tasks []string) error {
	known := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		known[t] = true
	}
	var errs []error
	seen := make(map[string]string)
	names := make(map[string]bool)
	var unknown []string
	for i, g := range s.Groups {
		switch {
		case g.Name == "":
			errs = append(errs, fmt.Errorf("%w: group %d has no name", ErrBadGroup, i+1))
		case names[g.Name]:
			errs = append(errs, fmt.Errorf("%w: group name %q used twice", ErrBadGroup, g.Name))
		}
		names[g.Name] = true
		if len(g.Tasks) == 0 {
			errs = append(errs, fmt.Errorf("%w: %q", ErrEmptyGroup, g.Name))
		}
		if g.MemoryMB < 0 {
			errs = append(errs, fmt.Errorf("%w: group %q has negative memory %d MB", ErrBadGroup, g.Name, g.MemoryMB))
		}
		switch g.Fusion {
		case "", FusionInstance, FusionModule:
		default:
			errs = append(errs, fmt.Errorf("%w: group %q has fusion %q (want %q or %q)", ErrBadGroup, g.Name, g.Fusion, FusionInstance, FusionModule))
		}
		for _, t := range g.Tasks {
			if prev, ok := seen[t]; ok {
				errs = append(errs, fmt.Errorf("%w: %q in %q and %q", ErrDuplicateTask, t, prev, g.Name))
				continue
			}
			seen[t] = g.Name
			if tasks != nil && !known[t] {
				unknown = append(unknown, fmt.Sprintf("%q in group %q", t, g.Name))
			}
		}
	}
	if len(unknown) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s", ErrUnknownTask, strings.Join(unknown, ", ")))
	}
	var missing []string
	for _, t := range tasks {
		if _, ok := seen[t]; !ok {
			missing = append(missing, strconv.Quote(t))
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s", ErrMissingTask, strings.Join(missing, ", ")))
	}
	return join(errs)
}

// ValidateDeployable is Validate plus what a setup needs before any group
// can be deployed: at least one group, and a place (a provider) for every
// group. It reports every problem, as Validate does.
func (s *Setup) ValidateDeployable(tasks []string) error {
	var errs []error
	if len(s.Groups) == 0 {
		errs = append(errs, ErrNoGroups)
	}
	var noPlace []string
	for i, g := range s.Groups {
		if g.Place.Provider == "" {
			name := strconv.Quote(g.Name)
			if g.Name == "" {
				name = fmt.Sprintf("%d", i+1)
			}
			noPlace = append(noPlace, name)
		}
	}
	if len(noPlace) > 0 {
		errs = append(errs, fmt.Errorf("%w: no place (provider) for group %s", ErrBadGroup, strings.Join(noPlace, ", ")))
	}
	if err := s.Validate(tasks); err != nil {
		errs = append(errs, err)
	}
	return join(errs)
}

// problems is several errors reported at once, on one line.
type problems []error

func (p problems) Error() string {
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

func (p problems) Unwrap() []error { return p }

// join returns nil, the one error, or all of them as one.
func join(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return problems(errs)
}

// Clone returns a deep copy of s.
func (s *Setup) Clone() *Setup {
	c := &Setup{Version: s.Version, Groups: make([]Group, len(s.Groups))}
	for i, g := range s.Groups {
		g.Tasks = slices.Clone(g.Tasks)
		c.Groups[i] = g
	}
	return c
}

// Normalize sorts tasks within groups and groups by their first task, and
// names every group after its sorted tasks joined by "+" when rename is true.
// Two setups with the same partition compare equal after Normalize.
func (s *Setup) Normalize(rename bool) {
	for i := range s.Groups {
		sort.Strings(s.Groups[i].Tasks)
		if rename {
			s.Groups[i].Name = strings.Join(s.Groups[i].Tasks, "+")
		}
	}
	sort.Slice(s.Groups, func(i, j int) bool { return slices.Compare(s.Groups[i].Tasks, s.Groups[j].Tasks) < 0 })
}

// Partition returns the groups' task sets, normalized, as a string such as
// "(A,B,D,E) (C) (F) (G)". It ignores names, memory and place.
func (s *Setup) Partition() string {
	c := s.Clone()
	c.Normalize(false)
	parts := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		parts[i] = "(" + strings.Join(g.Tasks, ",") + ")"
	}
	return strings.Join(parts, " ")
}

// Parse decodes a setup from JSON and rejects unknown fields.
func Parse(data []byte) (*Setup, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var s Setup
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("setup: parse: %w", err)
	}
	return &s, nil
}

// Load reads and parses a setup file.
func Load(path string) (*Setup, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
