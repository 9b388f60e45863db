package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemoInterruptedLeavesNothingRunning runs `fusionize demo` on the
// emulated clouds as a user would, interrupts it (Ctrl-C) while the loop
// drives load on Lambda functions, and checks that the command removed
// everything it started: no execution environment, build or other process
// that runs from its data directory is left.
func TestDemoInterruptedLeavesNothingRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tree app and the Lambda bootstrap, runs the demo on the emulators")
	}
	requireBuildTools(t, filepath.Join("..", "..", "examples", "tree"))
	buildBinary(t)
	data := t.TempDir()
	cmd := exec.Command(binary, "--data-dir", data, "demo", filepath.Join("..", "..", "examples", "tree"),
		"--requests", "40", "--concurrency", "2")
	var out bytes.Buffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	var printed []string
	waitFor := func(what string, limit time.Duration) {
		t.Helper()
		deadline := time.After(limit)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("demo ended before printing %q:\n%s\n%s", what, strings.Join(printed, "\n"), out.String())
				}
				printed = append(printed, l)
				if strings.Contains(l, what) {
					return
				}
			case <-deadline:
				_ = cmd.Process.Kill()
				t.Fatalf("no %q after %s:\n%s\n%s", what, limit, strings.Join(printed, "\n"), out.String())
			}
		}
	}
	waitFor("emulated AWS Lambda", time.Minute)
	waitFor("load ", 10*time.Minute) // the loop drives requests to the functions
	if procs := processesUnder(data); len(procs) == 0 {
		t.Fatal("no process runs from the data directory while the demo drives load: the check below could not fail")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Logf("demo after Ctrl-C: %v", err)
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("demo still running 2 minutes after Ctrl-C")
	}
	for l := range lines {
		printed = append(printed, l)
	}
	if !strings.Contains(strings.Join(printed, "\n"), "removed every function, execution environment and emulator") {
		t.Errorf("demo did not report removing what it deployed:\n%s\n%s", strings.Join(printed, "\n"), out.String())
	}
	if procs := processesUnder(data); len(procs) != 0 {
		t.Fatalf("left behind after Ctrl-C: %s", strings.Join(procs, "; "))
	}
}

// processesUnder lists the live processes whose executable or command line
// names dir.
func processesUnder(dir string) []string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		line := strings.ReplaceAll(string(b), "\x00", " ")
		if !strings.Contains(line, dir) && !strings.HasPrefix(exe, dir) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && zombie(st) {
			continue
		}
		out = append(out, strconv.Itoa(pid)+" "+strings.TrimSpace(line))
	}
	return out
}

// zombie says whether a /proc/<pid>/stat line is of an exited process.
func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
