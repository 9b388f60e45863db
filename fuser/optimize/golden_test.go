package optimize_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/analytics"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/internal/simulate"
	"github.com/fusionize/fusionize/fuser/optimize"
)

var update = flag.Bool("update", false, "regenerate testdata/*/spans.json and want.json")

// goldenCases says how -update makes each case's input: the graph the
// spans are simulated from, the objective and the deployed setup.
var goldenCases = map[string]struct {
	graph  simulate.Graph
	obj    manifest.Objective
	places []setup.Place
	mem    int
}{
	"iot-bound":      {simulate.IoT(), manifest.Objective{Latency: "p50", LatencyBoundMs: 150}, []setup.Place{awsEast}, 512},
	"tree-weighted":  {simulate.Tree(), manifest.Objective{Latency: "p50", LatencyWeight: 1, CostWeight: 10}, []setup.Place{awsEast}, 512},
	"webshop-p95":    {simulate.Webshop(), manifest.Objective{Latency: "p95", LatencyBoundMs: 200}, []setup.Place{awsEast}, 1024},
	"iot-multicloud": {simulate.IoT(), manifest.Objective{Latency: "p50", LatencyWeight: 1, CostWeight: 10}, []setup.Place{awsEast, {Provider: "gcp", Region: "us-east4"}}, 1024},
}

// TestGolden feeds testdata/<case>/{app,setup,spans}.json to the model
// strategy and compares its proposal with want.json. Run with -update to
// regenerate the spans and the expected setups.
func TestGolden(t *testing.T) {
	for name, gc := range goldenCases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			if *update {
				writeGoldenInput(t, dir, gc.graph, gc.obj, gc.places, gc.mem)
			}
			var app optimize.App
			readJSON(t, filepath.Join(dir, "app.json"), &app)
			cur, err := setup.Load(filepath.Join(dir, "setup.json"))
			if err != nil {
				t.Fatal(err)
			}
			var spans []span.Span
			readJSON(t, filepath.Join(dir, "spans.json"), &spans)

			rep := analytics.Analyze(spans, analytics.Options{Tasks: app.Tasks, Setups: []*setup.Setup{cur}})
			prices := cost.Default()
			sum, err := prices.Summarize(spans, cost.PlacesOf(cur))
			if err != nil {
				t.Fatal(err)
			}
			in := optimize.Input{App: app, Current: cur, Report: rep,
				History: []optimize.Observation{optimize.Observe(cur, rep, sum.PerMillion, "golden input")}}
			got, why, err := optimize.NewModel(optimize.ModelConfig{AsyncOwnCPU: true}).Propose(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(why.Change)
			out, _ := json.MarshalIndent(got, "", "  ")
			out = append(out, '\n')
			want := filepath.Join(dir, "want.json")
			if *update {
				if err := os.WriteFile(want, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(exp, out) {
				t.Fatalf("proposal differs from %s (run go test -run TestGolden -update to accept):\n%s", want, out)
			}
		})
	}
}

func writeGoldenInput(t *testing.T, dir string, g simulate.Graph, obj manifest.Objective, places []setup.Place, mem int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := setup.Separate(1, g.TaskNames(), places[0], mem)
	for i := range s.Groups { // spread groups over the places
		s.Groups[i].Place = places[i%len(places)]
	}
	writeJSON(t, filepath.Join(dir, "app.json"), appOf(g, obj), true)
	writeJSON(t, filepath.Join(dir, "setup.json"), s, true)
	env := simulate.New(g, truthProfile(), 3)
	writeJSON(t, filepath.Join(dir, "spans.json"), env.Run(s, 30), false)
}

func writeJSON(t *testing.T, path string, v any, indent bool) {
	t.Helper()
	var b []byte
	var err error
	if indent {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
