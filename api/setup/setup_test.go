package setup_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/api/setup"
)

var local = setup.Place{Provider: "local"}

// treeTasks are the tasks of the paper's tree app.
var treeTasks = []string{"A", "B", "C", "D", "E", "F", "G"}

func group(name string, mem int, tasks ...string) setup.Group {
	return setup.Group{Name: name, Tasks: tasks, MemoryMB: mem, Place: local}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		groups []setup.Group
		tasks  []string
		want   error  // nil: valid
		msg    string // part of the error text
	}{
		{"separate setup is valid", setup.Separate(1, treeTasks, local, 128).Groups, treeTasks, nil, ""},
		{"fused setup is valid", setup.Fused(1, "all", treeTasks, local, 128).Groups, treeTasks, nil, ""},
		{"nil tasks skips completeness", []setup.Group{group("g", 128, "X")}, nil, nil, ""},
		{"zero memory is allowed", []setup.Group{group("g", 0, "A")}, []string{"A"}, nil, ""},
		{"empty group", []setup.Group{group("g", 128, "A"), group("empty", 128)}, []string{"A"}, setup.ErrEmptyGroup, `"empty"`},
		{"task in two groups", []setup.Group{group("g1", 128, "A", "B"), group("g2", 128, "B")}, []string{"A", "B"}, setup.ErrDuplicateTask, `"B" in "g1" and "g2"`},
		{"task twice in one group", []setup.Group{group("g", 128, "A", "A")}, []string{"A"}, setup.ErrDuplicateTask, `"A"`},
		{"task outside the app", []setup.Group{group("g", 128, "A", "Z")}, []string{"A"}, setup.ErrUnknownTask, `"Z" in group "g"`},
		{"task in no group", []setup.Group{group("g", 128, "A")}, []string{"A", "B"}, setup.ErrMissingTask, `"B"`},
		{"unnamed group", []setup.Group{group("", 128, "A")}, []string{"A"}, setup.ErrBadGroup, "no name"},
		{"group name used twice", []setup.Group{group("g", 128, "A"), group("g", 128, "B")}, []string{"A", "B"}, setup.ErrBadGroup, `"g" used twice`},
		{"negative memory", []setup.Group{group("g", -1, "A")}, []string{"A"}, setup.ErrBadGroup, "negative memory -1 MB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &setup.Setup{Version: 1, Groups: c.groups}
			err := s.Validate(c.tasks)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
		})
	}
}

func TestSeparatePutsEveryTaskInItsOwnGroup(t *testing.T) {
	place := setup.Place{Provider: "aws", Region: "us-east-1"}
	s := setup.Separate(3, []string{"A", "B"}, place, 256)
	want := &setup.Setup{Version: 3, Groups: []setup.Group{
		{Name: "A", Tasks: []string{"A"}, MemoryMB: 256, Place: place},
		{Name: "B", Tasks: []string{"B"}, MemoryMB: 256, Place: place},
	}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Separate = %+v, want %+v", s, want)
	}
	if got := setup.Separate(1, nil, place, 128); len(got.Groups) != 0 {
		t.Fatalf("Separate of no tasks has %d groups", len(got.Groups))
	}
}

func TestFusedPutsEveryTaskInOneGroup(t *testing.T) {
	tasks := []string{"A", "B", "C"}
	s := setup.Fused(2, "all", tasks, local, 512)
	want := &setup.Setup{Version: 2, Groups: []setup.Group{{Name: "all", Tasks: []string{"A", "B", "C"}, MemoryMB: 512, Place: local}}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Fused = %+v, want %+v", s, want)
	}
	tasks[0] = "changed"
	if s.Groups[0].Tasks[0] != "A" {
		t.Fatal("Fused shares the caller's task slice")
	}
}

func TestGroupOfAndGroup(t *testing.T) {
	s := &setup.Setup{Version: 1, Groups: []setup.Group{group("front", 128, "A", "B"), group("back", 256, "C")}}
	cases := []struct {
		task, want string // want "": not found
	}{
		{"A", "front"}, {"B", "front"}, {"C", "back"}, {"D", ""}, {"", ""},
	}
	for _, c := range cases {
		g, ok := s.GroupOf(c.task)
		if ok != (c.want != "") || (ok && g.Name != c.want) {
			t.Errorf("GroupOf(%q) = %v, %v; want group %q", c.task, g, ok, c.want)
		}
	}
	g, _ := s.GroupOf("C")
	g.MemoryMB = 1024
	if s.Groups[1].MemoryMB != 1024 {
		t.Error("GroupOf does not point into the setup")
	}
	if g, ok := s.Group("back"); !ok || g.Tasks[0] != "C" {
		t.Errorf("Group(back) = %v, %v", g, ok)
	}
	if _, ok := s.Group("C"); ok {
		t.Error("Group finds a group by a task name")
	}
}

func TestAssignmentMapsTasksToGroupNames(t *testing.T) {
	s := &setup.Setup{Groups: []setup.Group{group("g1", 128, "A", "B", "D", "E"), group("C", 128, "C")}}
	want := map[string]string{"A": "g1", "B": "g1", "D": "g1", "E": "g1", "C": "C"}
	if got := s.Assignment(); !maps.Equal(got, want) {
		t.Fatalf("Assignment = %v, want %v", got, want)
	}
	if got := (&setup.Setup{}).Assignment(); got == nil || len(got) != 0 {
		t.Fatalf("Assignment of an empty setup = %#v, want an empty map", got)
	}
}

func TestCloneIsDeep(t *testing.T) {
	s := &setup.Setup{Version: 7, Groups: []setup.Group{group("g1", 128, "A", "B"), group("g2", 256, "C")}}
	c := s.Clone()
	if !reflect.DeepEqual(c, s) {
		t.Fatalf("Clone = %+v, want %+v", c, s)
	}
	c.Version = 8
	c.Groups[0].Name = "renamed"
	c.Groups[0].Tasks[0] = "Z"
	c.Groups[1].MemoryMB = 1
	c.Groups[1].Place.Provider = "aws"
	c.Groups = append(c.Groups, group("g3", 128, "D"))
	want := &setup.Setup{Version: 7, Groups: []setup.Group{group("g1", 128, "A", "B"), group("g2", 256, "C")}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("changing the clone changed the original: %+v", s)
	}
	if e := (&setup.Setup{}).Clone(); e.Groups == nil || len(e.Groups) != 0 {
		t.Fatalf("Clone of an empty setup: %#v", e)
	}
}

func TestPartition(t *testing.T) {
	cases := []struct {
		name   string
		groups []setup.Group
		want   string
	}{
		{"paper's fused tree", []setup.Group{
			group("g3", 128, "G"), group("g1", 128, "E", "B", "D", "A"), group("g2", 256, "F"), group("x", 128, "C"),
		}, "(A,B,D,E) (C) (F) (G)"},
		{"separate", setup.Separate(1, treeTasks, local, 128).Groups, "(A) (B) (C) (D) (E) (F) (G)"},
		{"fused", setup.Fused(1, "all", []string{"G", "A", "C"}, local, 128).Groups, "(A,C,G)"},
		{"no groups", nil, ""},
		// Invalid setups still have a partition: Validate is the place that
		// refuses them, not Partition.
		{"empty groups", []setup.Group{group("a", 128, "B"), group("b", 128), group("c", 128, "A")}, "() (A) (B)"},
		{"task in two groups", []setup.Group{group("a", 128, "B", "A"), group("b", 128, "A")}, "(A) (A,B)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &setup.Setup{Groups: c.groups}
			before := fmt.Sprintf("%+v", s)
			if got := s.Partition(); got != c.want {
				t.Fatalf("Partition = %q, want %q", got, c.want)
			}
			if fmt.Sprintf("%+v", s) != before {
				t.Fatalf("Partition changed the setup: %+v", s)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	s := &setup.Setup{Groups: []setup.Group{group("g2", 256, "F", "C"), group("g1", 128, "E", "A")}}
	s.Normalize(false)
	want := []setup.Group{group("g1", 128, "A", "E"), group("g2", 256, "C", "F")}
	if !reflect.DeepEqual(s.Groups, want) {
		t.Fatalf("Normalize(false) = %+v, want %+v", s.Groups, want)
	}
	s.Normalize(true)
	if s.Groups[0].Name != "A+E" || s.Groups[1].Name != "C+F" {
		t.Fatalf("Normalize(true) names %q, %q; want A+E, C+F", s.Groups[0].Name, s.Groups[1].Name)
	}

	// Two setups with the same partition compare equal after Normalize(true).
	a := &setup.Setup{Groups: []setup.Group{group("x", 128, "B", "A"), group("y", 128, "C")}}
	b := &setup.Setup{Groups: []setup.Group{group("z", 128, "C"), group("w", 128, "A", "B")}}
	a.Normalize(true)
	b.Normalize(true)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same partition, different setups after Normalize: %+v / %+v", a, b)
	}
}

func TestPlaceString(t *testing.T) {
	for _, c := range []struct {
		p    setup.Place
		want string
	}{
		{setup.Place{Provider: "local"}, "local"},
		{setup.Place{Provider: "aws", Region: "eu-central-1", Arch: "arm64"}, "aws/eu-central-1"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	good := `{"version": 4, "groups": [
		{"name": "g1", "tasks": ["A", "B"], "memoryMB": 256, "place": {"provider": "aws", "region": "us-east-1", "arch": "arm64"}},
		{"name": "C", "tasks": ["C"], "memoryMB": 128, "place": {"provider": "local"}}]}`
	s, err := setup.Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := &setup.Setup{Version: 4, Groups: []setup.Group{
		{Name: "g1", Tasks: []string{"A", "B"}, MemoryMB: 256, Place: setup.Place{Provider: "aws", Region: "us-east-1", Arch: "arm64"}},
		group("C", 128, "C"),
	}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Parse = %+v, want %+v", s, want)
	}

	bad := []struct{ name, in, msg string }{
		{"unknown top-level field", `{"version": 1, "groups": [], "owner": "x"}`, `unknown field "owner"`},
		{"unknown group field", `{"groups": [{"name": "g", "tasks": ["A"], "cpu": 2}]}`, `unknown field "cpu"`},
		{"unknown place field", `{"groups": [{"name": "g", "tasks": ["A"], "place": {"zone": "a"}}]}`, `unknown field "zone"`},
		{"empty input", ``, "EOF"},
		{"truncated", `{"version": 1, "groups": [`, "unexpected EOF"},
		{"not JSON", `version: 1`, "invalid character"},
		{"wrong type", `{"version": "one"}`, "cannot unmarshal string"},
		{"tasks not a list", `{"groups": [{"name": "g", "tasks": "A"}]}`, "cannot unmarshal string"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			s, err := setup.Parse([]byte(c.in))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", c.in, s)
			}
			if !strings.HasPrefix(err.Error(), "setup: parse: ") || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.json")
	_, err := setup.Load(missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Load of a missing file: %v, want an error naming %s", err, missing)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version": 1, "extra": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := setup.Load(bad); err == nil || !strings.HasPrefix(err.Error(), bad+": setup: parse: ") {
		t.Fatalf("Load of a bad file: %v, want an error naming %s", err, bad)
	}

	good := filepath.Join(dir, "setup.json")
	want := setup.Separate(5, []string{"A", "B"}, local, 128)
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := setup.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, want %+v", got, want)
	}
}

func Example() {
	s := setup.Separate(1, []string{"A", "B", "C", "D"}, setup.Place{Provider: "local"}, 128)
	next := setup.Fused(2, "front", []string{"B", "A"}, setup.Place{Provider: "local"}, 256)
	next.Groups = append(next.Groups, s.Groups[2:]...)
	if err := next.Validate([]string{"A", "B", "C", "D"}); err != nil {
		fmt.Println(err)
		return
	}
	g, _ := next.GroupOf("B")
	fmt.Println(g.Name, g.MemoryMB)
	fmt.Println(next.Partition())

	broken := next.Clone()
	broken.Groups = broken.Groups[:1]
	fmt.Println(broken.Validate([]string{"A", "B", "C", "D"}))
	// Output:
	// front 256
	// (A,B) (C) (D)
	// setup: task not assigned to any group: "C", "D"
}

// FuzzParse feeds arbitrary bytes to Parse: it never panics, a setup it
// accepts survives a round trip through encoding/json with the same version
// and partition, and Validate never panics on it.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`{"version": 1, "groups": [{"name": "A", "tasks": ["A"], "memoryMB": 128, "place": {"provider": "local"}}]}`,
		`{"version": 2, "groups": [{"name": "g", "tasks": ["B", "A"], "memoryMB": 256, "place": {"provider": "aws", "region": "us-east-1", "arch": "arm64"}}, {"name": "C", "tasks": ["C"]}]}`,
		`{"version": -9223372036854775808, "groups": null}`,
		`{"groups": [{"name": "", "tasks": []}, {"name": "", "tasks": ["A", "A"]}]}`,
		`{"groups": [{"name": "x", "tasks": ["\u00e9", "\ud800"], "memoryMB": -1}]}`,
		`{"version": 1} trailing`,
		`{"version": 1, "unknown": true}`,
		`null`,
		`[]`,
		``,
		`{`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := setup.Parse(data)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned a setup and an error: %v", err)
			}
			return
		}
		_ = s.Validate(nil)
		_ = s.Validate([]string{"A", "B", "C"})
		_ = s.Assignment()

		enc, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", s, err)
		}
		again, err := setup.Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", enc, err)
		}
		if again.Version != s.Version {
			t.Fatalf("version %d became %d", s.Version, again.Version)
		}
		if p, q := s.Partition(), again.Partition(); p != q {
			t.Fatalf("partition %q became %q after a round trip through %s", p, q, enc)
		}
	})
}

// TestValidateReportsEveryProblem: one call names every wrong group and
// every missing or unknown task, not only the first.
func TestValidateReportsEveryProblem(t *testing.T) {
	s := &setup.Setup{Groups: []setup.Group{group("g", 128, "A", "Z"), group("g", -1), group("h", 128, "Y")}}
	err := s.Validate([]string{"A", "B", "C"})
	for _, want := range []error{setup.ErrBadGroup, setup.ErrEmptyGroup, setup.ErrUnknownTask, setup.ErrMissingTask} {
		if !errors.Is(err, want) {
			t.Errorf("Validate = %v, want it to wrap %v", err, want)
		}
	}
	for _, msg := range []string{`"g" used twice`, "negative memory -1 MB", `"Z" in group "g", "Y" in group "h"`, `any group: "B", "C"`} {
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("error %q does not say %q", err, msg)
		}
	}
}

// TestValidateDeployable refuses a setup with no groups (the app would go
// down) and groups without a place, naming them.
func TestValidateDeployable(t *testing.T) {
	if err := (&setup.Setup{}).ValidateDeployable(nil); !errors.Is(err, setup.ErrNoGroups) {
		t.Fatalf("empty setup: %v, want ErrNoGroups", err)
	}
	s := &setup.Setup{Groups: []setup.Group{
		{Name: "a", Tasks: []string{"A"}}, {Name: "b", Tasks: []string{"B"}, Place: local}, {Name: "c", Tasks: []string{"C"}},
	}}
	err := s.ValidateDeployable([]string{"A", "B", "C", "D"})
	if !errors.Is(err, setup.ErrBadGroup) || !strings.Contains(err.Error(), `no place (provider) for group "a", "c"`) {
		t.Fatalf("groups without a place: %v", err)
	}
	if !errors.Is(err, setup.ErrMissingTask) || !strings.Contains(err.Error(), `"D"`) {
		t.Fatalf("missing task not reported with the places: %v", err)
	}
	if err := setup.Separate(1, treeTasks, local, 128).ValidateDeployable(treeTasks); err != nil {
		t.Fatalf("separate setup: %v", err)
	}
}
