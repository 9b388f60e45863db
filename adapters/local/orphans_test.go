package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters/adaptertest"
	"github.com/fusionize/fusionize/adapters/local"
	"github.com/fusionize/fusionize/api/setup"
)

// fakeHost starts a shell whose command line carries "--ready-file ready",
// as a host's does; trap is what it does on SIGTERM. It returns once the
// trap is set.
func fakeHost(t *testing.T, trap, ready string) *exec.Cmd {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "trapped")
	script := trap + "; touch " + marker + "; while :; do sleep 0.05; done"
	cmd := exec.Command("sh", "-c", script, "sh", "--ready-file", ready)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(marker); err == nil {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell did not start within a minute")
		}
	}
}

func writePIDFile(t *testing.T, dir, id string, pid int, ready string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"pid": pid, "ready": ready})
	if err := os.WriteFile(filepath.Join(dir, id+".pid"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// exited reports whether cmd's process has ended (it is then a zombie
// until waited for, or gone).
func exited(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || slices.Contains([]string{"Z", "X"}, string(stat[len(fmt.Sprintf("%d (sh) ", pid))]))
}

func TestStopOrphansSignalsOnlyProcessesThatAreTheRecordedHost(t *testing.T) {
	dir := t.TempDir()
	ready := func(id string) string { return filepath.Join(dir, id+".ready.json") }
	polite := fakeHost(t, `trap "exit 0" TERM`, ready("A@v1"))
	stubborn := fakeHost(t, `trap "" TERM`, ready("B@v1"))
	// A live process whose pid a stale file names, with another ready
	// file on its command line: it got the pid after the host died.
	stranger := fakeHost(t, "true", filepath.Join(t.TempDir(), "other.ready.json"))
	writePIDFile(t, dir, "A@v1", polite.Process.Pid, ready("A@v1"))
	writePIDFile(t, dir, "B@v1", stubborn.Process.Pid, ready("B@v1"))
	writePIDFile(t, dir, "C@v1", stranger.Process.Pid, ready("C@v1"))
	writePIDFile(t, dir, "D@v1", 1<<22+1, ready("D@v1")) // beyond pid_max: long gone
	if err := os.WriteFile(filepath.Join(dir, "E@v1.pid"), []byte(`{"pid":`), 0o644); err != nil {
		t.Fatal(err) // torn write
	}
	if err := os.WriteFile(ready("A@v1"), []byte(`{"grpc":"127.0.0.1:1"}`), 0o644); err != nil {
		t.Fatal(err)
	}

	got, err := local.StopOrphans(context.Background(), dir, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b local.Orphan) int { return a.PID - b.PID })
	want := []local.Orphan{{ID: "A@v1", PID: polite.Process.Pid}, {ID: "B@v1", PID: stubborn.Process.Pid, Killed: true}}
	slices.SortFunc(want, func(a, b local.Orphan) int { return a.PID - b.PID })
	if !slices.Equal(got, want) {
		t.Fatalf("StopOrphans = %+v, want %+v", got, want)
	}
	// A killed process ends when the kernel gets to it: under the race
	// detector on a busy machine, not always by the time StopOrphans
	// returns.
	for deadline := time.Now().Add(10 * time.Second); !exited(polite.Process.Pid) || !exited(stubborn.Process.Pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("a recorded host still runs 10 s after StopOrphans returned")
			break
		}
	}
	if exited(stranger.Process.Pid) {
		t.Error("a process that only shares a recorded pid was signalled")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 0 {
		t.Errorf("files left in the directory: %v", left)
	}
}

// TestAdapterKeepsAPIDFilePerRunningHost checks the record StopOrphans
// reads: written with each start (and restart), gone with the host.
func TestAdapterKeepsAPIDFilePerRunningHost(t *testing.T) {
	env := adaptertest.NewEnv(t)
	wasm, err := os.ReadFile(filepath.Join(repo, "host", "testdata", "echo.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	env.Upload(t, "echo", wasm)
	su := env.Apply(t, setup.Group{Name: "e", Tasks: []string{"echo"}})
	f := newFixture(t, nil)
	ep := f.deploy(t, env, su, "e")
	pidFile := filepath.Join(f.dir, ep.Group+"@v"+fmt.Sprint(ep.Version)+".pid")
	recorded := func() int {
		var r struct{ PID int }
		b, err := os.ReadFile(pidFile)
		if err != nil || json.Unmarshal(b, &r) != nil {
			return 0
		}
		return r.PID
	}
	first := f.pid(t, ep)
	if got := recorded(); got != first {
		t.Fatalf("pid file names %d, the host is %d", got, first)
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute) // bounds a hung restart
	for {
		if pid, ok := f.a.PID(ep.Group, ep.Version); ok && pid != first && recorded() == pid {
			f.pid(t, ep)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid file for the restarted host (file names %d)", recorded())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := f.a.Remove(context.Background(), ep.Group, ep.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file after Remove: %v", err)
	}
	// Nothing of the adapter's own is an orphan.
	if got, err := f.a.StopOrphans(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("StopOrphans after Remove = %v, %v", got, err)
	}
}
