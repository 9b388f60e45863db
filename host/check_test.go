package host_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fusionize/fusionize/host"
)

// TestCheckModuleRefusesWhatNoHostCouldLoad: CheckModule finds each kind
// of bad module Load refuses, with the task and the reason in the error,
// and accepts a good one.
func TestCheckModuleRefusesWhatNoHostCouldLoad(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(wat(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		wasm []byte
		want error
		msg  string
	}{
		{"empty", nil, host.ErrBadModule, "too short to be a WebAssembly module"},
		{"not Wasm", []byte("#!/bin/sh\necho hello\n"), host.ErrBadModule, `not a WebAssembly module: it starts with "#!/b"`},
		{"missing export", read("nohandle"), host.ErrBadModule, "missing export fusionize_handle"},
		{"wrong ABI version", read("badabi"), host.ErrABIVersion, "ABI version 2, host speaks 1"},
		{"unknown import", read("badimport"), host.ErrBadModule, `imports env.now from unknown module "env"`},
		{"command module", read("command"), host.ErrBadModule, "not a reactor"},
		{"_initialize never returns", read("inithang"), host.ErrDeadline, "_initialize did not return within 300ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := host.CheckModule(context.Background(), "resize", c.wasm, host.CheckOptions{CacheDir: cacheDir, InitTimeout: 300 * time.Millisecond})
			if !errors.Is(err, c.want) {
				t.Fatalf("CheckModule = %v, want %v", err, c.want)
			}
			for _, s := range []string{c.msg, "resize"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	if err := host.CheckModule(context.Background(), "echo", read("echo"), host.CheckOptions{CacheDir: cacheDir}); err != nil {
		t.Fatalf("a good module: %v", err)
	}
}

// TestInitializeThatNeverReturnsFailsTheLoad: a host gives _initialize
// InitTimeout, then fails the load with CodeDeadline naming the task, and
// keeps serving the tasks it has.
func TestInitializeThatNeverReturnsFailsTheLoad(t *testing.T) {
	h := newHost(t, host.Config{InitTimeout: 200 * time.Millisecond}, map[string]string{"echo": wat("echo")})
	err := h.LoadFile(context.Background(), "hang", wat("inithang"), "")
	if host.CodeOf(err) != host.CodeDeadline || !strings.Contains(err.Error(), `task "hang"`) || !strings.Contains(err.Error(), "_initialize did not return") {
		t.Fatalf("load of a hanging _initialize: %v (code %d), want CodeDeadline naming task hang", err, host.CodeOf(err))
	}
	if out, err := h.Invoke(context.Background(), "echo", []byte("still serving")); err != nil || string(out) != "still serving" {
		t.Fatalf("host stopped serving: %q %v", out, err)
	}
}

// TestCheckFusedModuleAcceptsWhatItHoldsAndNamesWhatItLacks: a fused module
// (ABI version 2) passes the check for exactly the tasks it holds; claiming
// one more names that task, claiming one fewer names the one held unclaimed,
// and the check of a module of one task refuses it for its ABI version.
func TestCheckFusedModuleAcceptsWhatItHoldsAndNamesWhatItLacks(t *testing.T) {
	wasm, err := os.ReadFile(wat("fusedpair"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := host.CheckOptions{CacheDir: cacheDir}
	if err := host.CheckFusedModule(ctx, []string{"fb", "fa"}, wasm, opts); err != nil {
		t.Fatalf("the tasks it holds: %v", err)
	}
	cases := []struct {
		name  string
		tasks []string
		want  error
		msg   string
	}{
		{"a task it lacks", []string{"fa", "fb", "fc"}, host.ErrMissingTask, `task "fc"`},
		{"a task it holds unclaimed", []string{"fa"}, host.ErrBadModule, `task "fb"`},
		{"a task named twice", []string{"fa", "fa", "fb"}, host.ErrDuplicate, `task "fa"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := host.CheckFusedModule(ctx, c.tasks, wasm, opts)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("CheckFusedModule(%v) = %v, want %v naming %s", c.tasks, err, c.want, c.msg)
			}
		})
	}
	if err := host.CheckModule(ctx, "fa", wasm, opts); !errors.Is(err, host.ErrABIVersion) {
		t.Errorf("CheckModule of a fused module = %v, want ErrABIVersion", err)
	}
	dup, err := os.ReadFile(wat("fuseddup"))
	if err != nil {
		t.Fatal(err)
	}
	if err := host.CheckFusedModule(ctx, []string{"a"}, dup, opts); !errors.Is(err, host.ErrBadModule) || !strings.Contains(err.Error(), `task "a"`) {
		t.Errorf("a module listing a task twice: %v, want ErrBadModule naming a", err)
	}
}
