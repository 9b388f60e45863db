package sweep

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
)

func keys(parts [][][]string) []string {
	var out []string
	for _, p := range parts {
		var b strings.Builder
		for _, g := range p {
			b.WriteString("(" + strings.Join(g, ",") + ")")
		}
		out = append(out, b.String())
	}
	return out
}

// A chain A→B→C has four connected partitions; A and C never share a
// group without B.
func TestPartitionsOfAChain(t *testing.T) {
	parts, complete := Partitions([]string{"A", "B", "C"}, [][2]string{{"A", "B"}, {"B", "C"}, {"A", "B"}}, 1)
	if !complete {
		t.Fatal("three tasks, two edges: not enumerated completely")
	}
	got := keys(parts)
	want := []string{"(A)(B)(C)", "(A,B)(C)", "(A)(B,C)", "(A,B,C)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("partitions %v, want %v", got, want)
	}
}

// Edges naming unknown tasks or a task calling itself are ignored; a task
// nobody calls stays alone in every partition.
func TestPartitionsIgnoreUnknownAndSelfEdges(t *testing.T) {
	parts, _ := Partitions([]string{"A", "B", "Z"}, [][2]string{{"A", "B"}, {"A", "A"}, {"A", "X"}}, 1)
	got := keys(parts)
	want := []string{"(A)(B)(Z)", "(A,B)(Z)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("partitions %v, want %v", got, want)
	}
}

// A diamond (A→B, A→C, B→D, C→D) has cycles in its undirected graph: many
// edge subsets give one partition; each partition is listed once.
func TestPartitionsOfADiamondAreDistinct(t *testing.T) {
	parts, complete := Partitions([]string{"A", "B", "C", "D"}, [][2]string{{"A", "B"}, {"A", "C"}, {"B", "D"}, {"C", "D"}}, 1)
	if !complete {
		t.Fatal("not complete")
	}
	seen := map[string]bool{}
	for _, k := range keys(parts) {
		if seen[k] {
			t.Fatalf("partition %s listed twice", k)
		}
		seen[k] = true
	}
	// Connected partitions of a 4-cycle: 1 (all) + 4 (one alone, rest a
	// path) + 2 (two opposite edges) + 4 (one edge, two alone) + 1 (all
	// alone) — and {A,D} or {B,C} never form a group by themselves.
	if len(parts) != 12 {
		t.Fatalf("%d partitions, want 12: %v", len(parts), keys(parts))
	}
	for k := range seen {
		if strings.Contains(k, "(A,D)") || strings.Contains(k, "(B,C)") {
			t.Errorf("partition %s has a group that is not connected", k)
		}
	}
}

// With more edges than it enumerates, the partitions are a seeded sample
// that includes both extremes and repeats for the same seed.
func TestPartitionsSampleLargeGraphs(t *testing.T) {
	var tasks []string
	var calls [][2]string
	for i := range 20 {
		tasks = append(tasks, fmt.Sprintf("T%02d", i))
		if i > 0 {
			calls = append(calls, [2]string{tasks[i-1], tasks[i]})
		}
	}
	a, complete := Partitions(tasks, calls, 7)
	if complete {
		t.Fatal("19 edges reported as enumerated completely")
	}
	b, _ := Partitions(tasks, calls, 7)
	if !reflect.DeepEqual(keys(a), keys(b)) {
		t.Fatal("the same seed gave another sample")
	}
	if len(a[0]) != 20 || len(a[len(a)-1]) != 1 {
		t.Fatalf("sample lacks an extreme: first has %d groups, last %d", len(a[0]), len(a[len(a)-1]))
	}
}

func TestFrontKeepsOnlyTheUndominated(t *testing.T) {
	pt := func(p50, cost float64) Point {
		return Point{P50Ms: p50, P95Ms: 2 * p50, CostPerMillion: cost, Requests: 10}
	}
	points := []Point{
		pt(10, 5),  // 0: front (fastest)
		pt(20, 2),  // 1: front
		pt(20, 3),  // 2: dominated by 1
		pt(30, 1),  // 3: front (cheapest)
		pt(40, 1),  // 4: dominated by 3 (same cost, slower)
		pt(5, 0.5), // 5: would dominate all, but had failures
		{Err: "deploy failed", Requests: 0},
	}
	points[5].Failed = 1
	got := Front(points, "p50")
	if want := []int{0, 1, 3}; !reflect.DeepEqual(got, want) {
		t.Fatalf("front %v, want %v", got, want)
	}
	// Equal points do not dominate each other.
	if got := Front([]Point{pt(10, 1), pt(10, 1)}, "p95"); len(got) != 2 {
		t.Fatalf("two equal points: front %v, want both", got)
	}
}

func TestOptionsRefuseBadInput(t *testing.T) {
	app := &manifest.App{Name: "x"}
	places := []setup.Place{{Provider: "local"}}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "App is required"},
		{Options{App: app}, "Places is empty"},
		{Options{App: app, Places: places, MemoriesMB: []int{512, -1}}, "memory size -1 MB"},
	} {
		err := tc.o.defaults()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}
