package optimize

import (
	"fmt"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/fuser/analytics"
)

// TestCandHashFindsEveryTabuSetup: the search skips a tabu candidate by
// looking it up by Key only when its candHash is among the tabu setups'
// setupHash, so the two must agree on every candidate: memory sizes,
// groupings and module fusion.
func TestCandHashFindsEveryTabuSetup(t *testing.T) {
	aws := setup.Place{Provider: "aws", Region: "us-east-1"}
	app := App{Name: "three", Entry: "A", Tasks: []string{"A", "B", "C"}, ModuleFusable: []string{"A", "B"}, Objective: manifest.Objective{Latency: "p50"}}
	base := setup.Separate(1, app.Tasks, aws, 512)
	var spans []span.Span
	for i := range 20 {
		tr, id, at := fmt.Sprintf("%032x", i+1), uint64(3*i+1), time.Unix(int64(1000+i), 0)
		spans = append(spans,
			span.Span{TraceID: tr, ID: id, Task: "A", Group: "A", SetupVersion: 1, MemoryMB: 512, Start: at, Duration: 20 * time.Millisecond, Wait: 10 * time.Millisecond},
			span.Span{TraceID: tr, ID: id + 1, ParentID: id, Caller: "A", Task: "B", Remote: true, Group: "B", SetupVersion: 1, MemoryMB: 512, Start: at, Duration: 5 * time.Millisecond},
			span.Span{TraceID: tr, ID: id + 2, ParentID: id, Caller: "A", Task: "C", Remote: true, Group: "C", SetupVersion: 1, MemoryMB: 512, Start: at, Duration: 5 * time.Millisecond})
	}
	rep := analytics.Analyze(spans, analytics.Options{Tasks: app.Tasks, Setups: []*setup.Setup{base}})
	l, err := NewModel(ModelConfig{Places: []setup.Place{aws}}).Learn(Input{App: app, Current: base, Report: rep, History: []Observation{Observe(base, rep, 1, "baseline")}})
	if err != nil {
		t.Fatal(err)
	}
	// Every candidate: each task's group id in 0..2, each group's config.
	var cands []cand
	for g := range 27 {
		for k := range len(l.cfgs) * len(l.cfgs) {
			c := cand{group: []int32{int32(g % 3), int32(g / 3 % 3), int32(g / 9)}, cfg: []int32{int32(k % len(l.cfgs)), int32(k / len(l.cfgs)), int32(k % len(l.cfgs))}}
			cands = append(cands, c)
		}
	}
	s := &searcher{l: l, gp: make([]gparam, 3), tabu: map[string]bool{}, tabuHash: map[uint64]bool{}}
	// Every third candidate's setup is tabu, by Key, and by setupHash.
	for i := 0; i < len(cands); i += 3 {
		su := l.toSetup(&cands[i])
		s.tabu[Key(su)] = true
		h, ok := l.setupHash(su)
		if !ok {
			t.Fatalf("setupHash of %s: not known", Key(su))
		}
		s.tabuHash[h] = true
	}
	for i := range cands {
		c := &cands[i]
		s.score(c) // sets s.gp for c
		want := s.tabu[Key(l.toSetup(c))]
		if got := s.tabuHash[s.candHash(c)]; got != want {
			t.Errorf("%s: tabu %v by Key, %v by hash", Key(l.toSetup(c)), want, got)
		}
		if score := s.score(c); (score == 1e15) != want {
			t.Errorf("%s: score %g, tabu %v", Key(l.toSetup(c)), score, want)
		}
	}
}
