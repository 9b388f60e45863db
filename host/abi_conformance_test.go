package host_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/host"
)

// The ABI conformance test runs every error case guest-sdk/ABI.md documents
// against a real host, from WAT guests (testdata/abiprobe.wat picks a
// scenario by its input's first byte and reports what each import returned;
// testdata/abialloc.wat tests fusionize_alloc's edges). A case changed here
// changes ABI.md, and the other way round.

// conformanceHost is a host with small limits so that each limit is cheap
// to reach: 1 KiB payloads, depth 3, one async call at a time.
func conformanceHost(t *testing.T) *host.Host {
	t.Helper()
	h := newHost(t, host.Config{Group: "g", MaxPayload: 1024, MaxDepth: 3, MaxAsync: 1, Timeout: 3 * time.Second},
		map[string]string{"probe": wat("abiprobe"), "echo": wat("echo"), "loop": wat("loop"), "alloc": wat("abialloc")})
	su := &setup.Setup{Version: 1, Groups: []setup.Group{
		{Name: "g", Tasks: []string{"probe", "echo", "loop", "alloc"}, Place: setup.Place{Provider: "local"}},
		{Name: "other", Tasks: []string{"remote"}, Place: setup.Place{Provider: "local"}},
	}}
	if err := h.SetSetup(su); err != nil {
		t.Fatal(err)
	}
	return h
}

// probeResult splits the probe's output: the import results it recorded
// and the bytes it fetched with take.
func probeResult(t *testing.T, out []byte) ([]int32, string) {
	t.Helper()
	if len(out) < 4 {
		t.Fatalf("probe output %q: too short", out)
	}
	n := int(binary.LittleEndian.Uint32(out))
	if len(out) < 4+4*n {
		t.Fatalf("probe output of %d bytes for %d results", len(out), n)
	}
	res := make([]int32, n)
	for i := range res {
		res[i] = int32(binary.LittleEndian.Uint32(out[4+4*i:]))
	}
	return res, string(out[4+4*n:])
}

func TestABIConformanceImportResults(t *testing.T) {
	h := conformanceHost(t)
	cases := []struct {
		scenario, what string
		want           []int32
		taken          string // part of the bytes take fetched
	}{
		{"o", "output from outside memory: BAD_ARGUMENT", []int32{-7}, ""},
		{"b", "output over the payload limit: TOO_LARGE, replaced by a later output that fits", []int32{-3}, ""},
		{"u", "call of an unknown task: UNKNOWN_TASK, message held", []int32{-1, -1}, `"nosuch"`},
		{"e", "call with an empty task name: BAD_ARGUMENT", []int32{-7}, ""},
		{"p", "call with a task name outside memory: BAD_ARGUMENT", []int32{-7}, ""},
		{"f", "callee returns 1: FAILED with its message", []int32{-2}, "boom"},
		{"r", "callee returns 7: FAILED, any result but 0 is a task error", []int32{-2}, "seven"},
		{"t", "callee traps: FAILED", []int32{-2}, "unreachable"},
		{"l", "call input over the payload limit: TOO_LARGE", []int32{-3}, "payload limit"},
		{"d", "sync calls past the maximum depth: DEPTH", []int32{-4}, "maximum call depth of 3"},
		{"h", "a result larger than the buffer is held: take asks, keeps, fetches, then 0", []int32{10, 10, 10, 10, 0}, "0123456789"},
		{"k", "a later call whose result fits leaves the held value", []int32{10, 2, 10}, "0123456789"},
		{"x", "take into memory outside the instance: BAD_ARGUMENT", []int32{10, -7}, ""},
		{"q", "a fitting result for an out_ptr outside memory: BAD_ARGUMENT", []int32{-7}, ""},
		{"U", "a task of another group with no transport: UNAVAILABLE", []int32{-6}, `group "other"`},
		{"w", "call_wait on an unknown and on an already waited handle: BAD_ARGUMENT", []int32{-7, 0, 2, -7}, "unknown or already waited handle"},
		{"s", "the 65th outstanding call_start: TOO_MANY", []int32{64, -10}, "more than 64 started calls"},
		{"A", "call_async of an unknown task, then past the async limit: UNKNOWN_TASK, TOO_MANY", []int32{-1, 0, -10}, "more than 1 async calls running"},
		{"v", "kv: empty key, key over 1 KiB, value over the limit, absent key, put, held get", []int32{-7, -7, -3, -9, 0, 0, 10}, "0123456789"},
		{"i", "an import called from _initialize: INTERNAL", []int32{-8}, ""},
		{"W", "WASI: no preopens, no sockets (EBADF), proc_raise (ENOSYS), no args, no environment", []int32{8, 8, 52, 0, 0, 0, 0}, ""},
	}
	for _, c := range cases {
		t.Run(c.scenario+"/"+c.what, func(t *testing.T) {
			out, err := h.Invoke(context.Background(), "probe", []byte(c.scenario))
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			got, taken := probeResult(t, out)
			if c.scenario == "u" && len(got) == 2 && got[1] > 0 {
				got[1] = -1 // the message's length: any positive value
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("import results %v, want %v (taken %q)", got, c.want, taken)
			}
			if !strings.Contains(taken, c.taken) {
				t.Fatalf("take fetched %q, want it to contain %q", taken, c.taken)
			}
		})
	}
}

func TestABIConformanceInvocationResults(t *testing.T) {
	h := conformanceHost(t)
	cases := []struct {
		task, input, what string
		code              host.Code // CodeOK: succeeds
		text              string    // part of the output or of the error
	}{
		{"probe", "", "no output call: an empty output", host.CodeOK, ""},
		{"probe", "B", "the last output over the limit fails the invocation", host.CodeTooLarge, "output of 2000 bytes exceeds the payload limit of 1024 bytes"},
		{"probe", "F", "handler returns 1: a task error with the output as message", host.CodeFailed, "boom"},
		{"probe", "R", "handler returns 7: a task error too", host.CodeFailed, "seven"},
		{"probe", "T", "a trap fails the invocation, naming the task", host.CodeFailed, `task "probe"`},
		{"probe", "n", "returning with a started call not waited for", host.CodeFailed, "1 started calls not waited for"},
		{"probe", "X", "proc_exit ends the instance", host.CodeFailed, "exited with code 3"},
		{"probe", "*still serving", "after all of these, the task serves", host.CodeOK, "*still serving"},
		{"echo", strings.Repeat("x", 1025), "input over the payload limit", host.CodeTooLarge, "exceeds the payload limit"},
		{"nosuch", "x", "an unknown task", host.CodeUnknownTask, "nosuch"},
		{"alloc", "", "fusionize_alloc(0) may return 0: nothing is written", host.CodeOK, "ok"},
		{"alloc", "x", "fusionize_alloc returns 0 for a non-zero size: out of memory", host.CodeTooLarge, "out of memory"},
		{"alloc", strings.Repeat("y", 200), "fusionize_alloc returns a pointer outside memory", host.CodeBadArgument, "outside its memory"},
	}
	for _, c := range cases {
		t.Run(c.task+"/"+c.what, func(t *testing.T) {
			out, err := h.Invoke(context.Background(), c.task, []byte(c.input))
			if c.code == host.CodeOK {
				if err != nil || !strings.Contains(string(out), c.text) || (c.text == "" && len(out) != 0) {
					t.Fatalf("got %q, %v; want success with %q", out, err, c.text)
				}
				return
			}
			if host.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %q, %v (code %d); want code %d saying %q", out, err, host.CodeOf(err), c.code, c.text)
			}
		})
	}
	t.Run("loop/past its deadline: DEADLINE", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := h.Invoke(ctx, "loop", nil)
		if host.CodeOf(err) != host.CodeDeadline {
			t.Fatalf("got %v, want DEADLINE", err)
		}
	})
}

// TestABIConformanceModuleKind: the module shapes ABI.md refuses are
// refused at load, each with its reason.
func TestABIConformanceModuleKind(t *testing.T) {
	cases := []struct {
		module string
		want   error
		text   string
	}{
		{"command", host.ErrBadModule, "not a reactor"},
		{"nohandle", host.ErrBadModule, "missing export fusionize_handle"},
		{"wrongtype", host.ErrBadModule, "want (i32, i32) -> (i32)"},
		{"badimport", host.ErrBadModule, `unknown module "env"`},
		{"badabi", host.ErrABIVersion, "ABI version 2, host speaks 1"},
		{"inithang", host.ErrDeadline, "_initialize did not return"},
	}
	// A shared memory needs the threads feature, which the host leaves off.
	shared := []byte("\x00asm\x01\x00\x00\x00\x05\x04\x01\x03\x01\x01")
	if err := host.CheckModule(context.Background(), "threads", shared, host.CheckOptions{}); !errors.Is(err, host.ErrBadModule) {
		t.Errorf("a shared memory: %v, want ErrBadModule", err)
	}
	for _, c := range cases {
		t.Run(c.module, func(t *testing.T) {
			wasm := readWasm(t, c.module)
			err := host.CheckModule(context.Background(), c.module, wasm, host.CheckOptions{CacheDir: cacheDir, InitTimeout: 300 * time.Millisecond})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v saying %q", err, c.want, c.text)
			}
		})
	}
	if err := host.CheckModule(context.Background(), "probe", readWasm(t, "abiprobe"), host.CheckOptions{CacheDir: cacheDir}); err != nil {
		t.Fatalf("the probe itself: %v", err)
	}
}

func readWasm(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(wat(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
