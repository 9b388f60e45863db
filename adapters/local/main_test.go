package local_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests run real host processes: a fusionize binary built once per test
// binary into binDir, sharing one data dir (the hosts' compilation cache).
var (
	binDir  string
	bin     string // the fusionize binary
	dataDir string
	repo    string // the module root
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fusionize-local-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir, dataDir = dir, filepath.Join(dir, "data")
	bin = filepath.Join(dir, "fusionize")
	if repo, err = moduleRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	build := exec.Command("go", "build", "-o", bin, "./cmd/fusionize")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fusionize: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "host processes outlived the tests:\n%s\n", strings.Join(left, "\n"))
		for _, l := range left { // do not leave them behind either
			if pid, err := strconv.Atoi(strings.Fields(l)[0]); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		code = 1
	}
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked:\n%s\n", leaked)
			code = 1
		}
	}
	return code
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not in a module")
	}
	return filepath.Dir(gomod), nil
}

// hostCommand is local.Options.Command for the built binary.
func hostCommand() []string { return []string{bin, "host", "--data-dir", dataDir} }

// leftovers lists the processes whose command line names the test's binary
// directory: hosts (or host wrappers) still running, zombies included.
func leftovers() []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []string{"read /proc: " + err.Error()}
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(binDir)) {
			continue
		}
		state := "?"
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) {
				state = string(stat[i+2])
			}
		}
		out = append(out, fmt.Sprintf("%d %s %s", pid, state, bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '})))
	}
	return out
}

// gsleepWasm builds host/testdata/go/gsleep (sleeps for its input in ms) on
// first use.
var gsleepWasm = sync.OnceValues(func() (string, error) {
	out := filepath.Join(binDir, "gsleep.wasm")
	cmd := exec.CommandContext(context.Background(), "go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./host/testdata/go/gsleep")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build gsleep: %v\n%s", err, b)
	}
	return out, nil
})

// leakedGoroutines returns the stacks of goroutines of this repository or
// gRPC still running after wait, or "".
func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "testMain") || strings.Contains(g, "leakedGoroutines") {
				continue
			}
			for _, pkg := range []string{"github.com/fusionize/fusionize/", "google.golang.org/grpc", "os/exec", "net/http.(*persistConn)"} {
				if strings.Contains(g, pkg) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
