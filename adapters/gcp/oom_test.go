package gcp_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/emulators/tasks"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/https"
)

// TestOutOfMemoryFailsTheCallNamingTaskAndFunction deploys a group with a
// task that grows its memory without end at 256 MB through the adapter: the
// platform kills the instance (its memory limit), the call fails with
// CodeUnavailable naming the task and the function, and the function keeps
// serving its other task from a new instance.
func TestOutOfMemoryFailsTheCallNamingTaskAndFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a Cloud Function in the emulator")
	}
	p := newPlatform(t, tasks.Options{})
	a := p.adapter(t, gcp.Options{Timeout: 60})
	hog, err := os.ReadFile(filepath.Join("..", "aws", "testdata", "hog.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	p.env.Upload(t, "hog", hog)
	p.env.Upload(t, "echo", wasm(t, "echo"))
	su := p.env.Apply(t, gcpGroups(setup.Group{Name: "g", Tasks: []string{"echo", "hog"}, MemoryMB: 256})...)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dep, err := a.Deploy(ctx, p.env.Deployment(t, su, "g"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.env.Record(su.Version, api.Endpoints{"g": dep.Endpoint}); err != nil {
		t.Fatal(err)
	}
	tr := https.New(https.Options{})
	defer tr.Close()
	url := dep.Endpoint.URL
	cctx, ccancel := context.WithTimeout(ctx, time.Minute)
	defer ccancel()
	_, err = tr.Call(cctx, url, host.Call{Task: "hog"})
	if host.CodeOf(err) != host.CodeUnavailable || !strings.Contains(err.Error(), `"hog"`) || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "Memory limit of 256 MiB exceeded") {
		t.Log(p.logs.String())
		t.Fatalf("hog past 256 MB: %v (code %d), want CodeUnavailable naming the task, the function and the memory limit", err, host.CodeOf(err))
	}
	t.Logf("hog: %v", err)
	if out, err := tr.Call(cctx, url, host.Call{Task: "echo", Input: []byte("after")}); err != nil || string(out) != "after" {
		t.Fatalf("echo after the kill: %q, %v", out, err)
	}
}
