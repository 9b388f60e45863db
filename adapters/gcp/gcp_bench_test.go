package gcp_test

import (
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/emulators/tasks"
)

// BenchmarkDeployGroupWarmBuildCache deploys one group (two tasks) as a new setup
// version per iteration through the adapter: source (vendor tree and compilation cache
// already on disk), upload, CreateFunction, the emulator's Go build with the warm shared
// GOCACHE, its startup check, and the adapter's ping. Removing the function is not
// timed.
//
//	go test -run '^$' -bench DeployGroupWarmBuildCache -benchtime 3x ./adapters/gcp/
func BenchmarkDeployGroupWarmBuildCache(b *testing.B) {
	p := newPlatform(b, tasks.Options{})
	a := p.adapter(b, gcp.Options{Drain: -1})
	for _, task := range []string{"echo", "caller"} {
		p.env.Upload(b, task, wasm(b, task))
	}
	group := setup.Group{Name: "bench", Tasks: []string{"echo", "caller"}, MemoryMB: 512}
	warm := p.env.Apply(b, gcpGroups(group)...)
	if _, err := a.Deploy(b.Context(), p.env.Deployment(b, warm, "bench")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var took time.Duration
	for range b.N {
		b.StopTimer()
		su := p.env.Apply(b, gcpGroups(group)...)
		b.StartTimer()
		start := time.Now()
		if _, err := a.Deploy(b.Context(), p.env.Deployment(b, su, "bench")); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		b.StopTimer()
		if err := a.Remove(b.Context(), "bench", su.Version); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "s/deploy")
}
