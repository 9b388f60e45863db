package server

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"google.golang.org/grpc/codes"
)

// echoWasm is a valid task module (host/testdata/echo.wat).
const echoWasm = "../../host/testdata/echo.wasm"

// paddedModule returns the echo module grown to at least n bytes by a
// custom section of random bytes: a valid module of any size.
func paddedModule(t *testing.T, n int) []byte {
	t.Helper()
	wasm, err := os.ReadFile(echoWasm)
	if err != nil {
		t.Fatal(err)
	}
	name := []byte("padding")
	payload := append([]byte{byte(len(name))}, name...)
	payload = append(payload, randomBytes(t, max(n-len(wasm), 1))...)
	wasm = append(wasm, 0) // custom section
	wasm = binary.AppendUvarint(wasm, uint64(len(payload)))
	return append(wasm, payload...)
}

// wantRefused checks that err is InvalidArgument and names every culprit.
func wantRefused(t *testing.T, err error, culprits ...string) {
	t.Helper()
	wantCode(t, err, codes.InvalidArgument)
	for _, c := range culprits {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not name %q", err, c)
		}
	}
}

// TestApplySetupRefusesBadSetupsAndKeepsServing: an empty setup, one that
// drops tasks of the app, one with groups without a place, one with tasks
// that have no module, are each refused with every culprit named; the
// current and the active setup stay as they were.
func TestApplySetupRefusesBadSetupsAndKeepsServing(t *testing.T) {
	cp := startCP(t, t.TempDir(), func(o *Options) { o.Tasks = []string{"A", "B", "C"} })
	c := dial(t, cp)
	for _, task := range []string{"A", "B", "C"} {
		if _, err := c.UploadModuleFile(t.Context(), task, echoWasm); err != nil {
			t.Fatal(err)
		}
	}
	v, err := c.ApplySetup(t.Context(), testSetup("A", "B", "C"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Store().SetActiveVersion(v); err != nil {
		t.Fatal(err)
	}
	local := setup.Place{Provider: "local"}
	cases := []struct {
		name     string
		su       *setup.Setup
		culprits []string
	}{
		{"empty setup", &setup.Setup{}, []string{"no groups", `"A", "B", "C"`}},
		{"tasks left out", testSetup("B"), []string{`not assigned to any group: "A", "C" (tasks of app "testapp")`}},
		{"groups without a place", &setup.Setup{Groups: []setup.Group{
			{Name: "ab", Tasks: []string{"A", "B"}, MemoryMB: 128},
			{Name: "c", Tasks: []string{"C"}, MemoryMB: 128},
		}}, []string{`no place (provider) for group "ab", "c"`}},
		{"tasks without modules and an empty group", &setup.Setup{Groups: []setup.Group{
			{Name: "abc", Tasks: []string{"A", "B", "C", "X"}, Place: local},
			{Name: "y", Tasks: []string{"Y"}, Place: local},
			{Name: "none", Place: local},
		}}, []string{`"X" in group "abc"`, `"Y" in group "y"`, `empty group: "none"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ApplySetup(t.Context(), tc.su)
			wantRefused(t, err, tc.culprits...)
			st, err := c.Status(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if st.SetupVersion != v || st.ActiveVersion != v {
				t.Fatalf("after a refused setup: current %d, active %d, want both %d", st.SetupVersion, st.ActiveVersion, v)
			}
			cur, err := c.Setup(t.Context(), 0)
			if err != nil || cur.Partition() != "(A) (B) (C)" {
				t.Fatalf("current setup %v, %v: want (A) (B) (C)", cur, err)
			}
		})
	}
	// Adding a task with a module is fine.
	if _, err := c.UploadModuleFile(t.Context(), "D", echoWasm); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplySetup(t.Context(), testSetup("A", "B", "C", "D")); err != nil {
		t.Fatalf("setup adding task D: %v", err)
	}
}

// TestRecordIterationRefusesBadIterations: an unknown decision, a negative
// index, latency or cost, and an index already recorded are refused, every
// problem named in one message; the history keeps only the valid ones.
func TestRecordIterationRefusesBadIterations(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	good := api.Iteration{Index: 0, Setup: testSetup("A"), P50Ms: 12, P95Ms: 20, CostPerMillionUSD: 1.5, Decision: api.DecisionBaseline}
	if err := c.RecordIteration(t.Context(), good); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		it       api.Iteration
		culprits []string
	}{
		{"unknown decision", api.Iteration{Index: 1, Decision: "keep"}, []string{`unknown decision "keep"`}},
		{"negative index and latencies", api.Iteration{Index: -1, P50Ms: -3, P95Ms: -4, CostPerMillionUSD: -1, Decision: api.DecisionKept},
			[]string{"negative index -1", "p50Ms is -3", "p95Ms is -4", "costPerMillionUSD is -1"}},
		{"duplicate index", api.Iteration{Index: 0, P50Ms: 10, Decision: api.DecisionKept}, []string{"iteration 0: index already recorded", "next free index is 1"}},
		{"everything at once", api.Iteration{Index: 0, P50Ms: -1, Decision: "better"}, []string{`unknown decision "better"`, "p50Ms is -1", "index already recorded"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, c.RecordIteration(t.Context(), tc.it), tc.culprits...)
		})
	}
	its, err := c.Iterations(t.Context())
	if err != nil || len(its) != 1 || its[0].Decision != api.DecisionBaseline {
		t.Fatalf("history %+v, %v: want only the baseline", its, err)
	}
	if err := c.RecordIteration(t.Context(), api.Iteration{Index: 1, P50Ms: 10, Decision: api.DecisionKept}); err != nil {
		t.Fatalf("the next index: %v", err)
	}
}

// TestUploadRefusesModulesNoHostCouldLoad: not Wasm, empty, a missing
// export, a wrong ABI version, an unknown import and an _initialize that
// never returns are each refused at upload with InvalidArgument naming the
// task and the reason; nothing is stored, and the task keeps the module it
// had.
func TestUploadRefusesModulesNoHostCouldLoad(t *testing.T) {
	cp := startCP(t, t.TempDir(), func(o *Options) { o.ModuleInitTimeout = 300 * time.Millisecond })
	c := dial(t, cp)
	good, err := c.UploadModuleFile(t.Context(), "resize", echoWasm)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		body       []byte
		reason     string
	}{
		{"not Wasm", "", []byte("#!/bin/sh\necho resize\n"), "not a WebAssembly module"},
		{"empty", "", []byte{}, "too short to be a WebAssembly module"},
		{"missing export", "nohandle", nil, "missing export fusionize_handle"},
		{"wrong ABI version", "badabi", nil, "module speaks ABI version 2, host speaks 1"},
		{"unknown import", "badimport", nil, `imports env.now from unknown module "env"`},
		{"_initialize never returns", "inithang", nil, "_initialize did not return within 300ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if tc.path != "" {
				var err error
				if body, err = os.ReadFile("../../host/testdata/" + tc.path + ".wasm"); err != nil {
					t.Fatal(err)
				}
			}
			_, err := c.UploadModule(t.Context(), "resize", bytes.NewReader(body), digestOf(body), int64(len(body)))
			wantRefused(t, err, "module of task resize", tc.reason)
		})
	}
	mods, err := c.Modules(t.Context())
	if err != nil || len(mods) != 1 || mods[0].Digest != good.Digest {
		t.Fatalf("modules after refused uploads: %+v, %v; want only %s", mods, err, good.Digest)
	}
	files, err := os.ReadDir(filepath.Join(cp.dir, "modules", "sha256"))
	if err != nil || len(files) != 1 {
		t.Fatalf("module directory holds %d files (%v) after refused uploads, want 1", len(files), err)
	}
}

// TestUploadOfAFusedModuleChecksTheTasksItClaims: a fused module is stored
// under api.FusedModuleName of its tasks and listed with them; one that
// does not hold a task it claims is refused naming that task, and nothing
// of it is stored.
func TestUploadOfAFusedModuleChecksTheTasksItClaims(t *testing.T) {
	cp := startCP(t, t.TempDir())
	c := dial(t, cp)
	const fusedpair = "../../host/testdata/fusedpair.wasm"
	info, err := c.UploadFusedModuleFile(t.Context(), []string{"fb", "fa"}, fusedpair)
	if err != nil {
		t.Fatal(err)
	}
	if info.Task != "fused-fa-fb" || !slices.Equal(info.Tasks, []string{"fa", "fb"}) || !info.Fused() {
		t.Errorf("stored as %+v, want fused-fa-fb holding fa, fb", info)
	}
	_, err = c.UploadFusedModuleFile(t.Context(), []string{"fa", "fb", "fc"}, fusedpair)
	wantRefused(t, err, `task "fc"`, "does not hold it")
	_, err = c.UploadModuleFile(t.Context(), "fa", fusedpair)
	wantRefused(t, err, "module of task fa", "ABI version 2")
	mods, err := c.Modules(t.Context())
	if err != nil || len(mods) != 1 || !slices.Equal(mods[0].Tasks, []string{"fa", "fb"}) {
		t.Fatalf("modules = %+v, %v; want only fused-fa-fb with its tasks", mods, err)
	}
}
