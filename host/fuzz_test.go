package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusionize/fusionize/host"
)

// fuzzMaxPayload is the payload limit of the fuzzed hosts: small, so that
// inputs over it are cheap to make.
const fuzzMaxPayload = 4096

// fuzzHost returns a host with a small payload limit and 4 MiB of memory
// per instance, serving echo.wasm as task "echo".
func fuzzHost(f *testing.F) *host.Host {
	return newHost(f, host.Config{MaxPayload: fuzzMaxPayload, MemoryLimitPages: 64}, map[string]string{"echo": wat("echo")})
}

// FuzzLoad feeds arbitrary bytes to Load on one long-lived host. Load never
// panics and fails only with a load error; a module it accepts answers an
// invocation (with a value or an error) within its deadline; and the host
// keeps serving its known-good echo task throughout.
func FuzzLoad(f *testing.F) {
	mods, err := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	if err != nil || len(mods) == 0 {
		f.Fatalf("no test modules: %v", err)
	}
	for _, m := range mods {
		data, err := os.ReadFile(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	echo, err := os.ReadFile(wat("echo"))
	if err != nil {
		f.Fatal(err)
	}
	for n := range len(echo) {
		f.Add(echo[:n])
	}
	for _, s := range []string{"", "\x00asm", "\x00asm\x01\x00\x00\x00", "\x00asm\x02\x00\x00\x00", "not wasm at all", "\x00asm\x01\x00\x00\x00\x05\xff\xff\xff\xff\x0f"} {
		f.Add([]byte(s))
	}

	h := fuzzHost(f)
	var seq atomic.Uint64
	f.Fuzz(func(t *testing.T, data []byte) {
		name := fmt.Sprintf("fuzz%d", seq.Add(1)) // a name can be loaded once only
		// A module whose start function never returns must not hang Load.
		lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := h.Load(lctx, name, data, "")
		cancel()
		if loaded := slices.Contains(h.Tasks(), name); loaded != (err == nil) {
			t.Fatalf("Load = %v, but task loaded = %v", err, loaded)
		}
		if err != nil {
			var he *host.Error
			if !errors.Is(err, host.ErrBadModule) && !errors.Is(err, host.ErrABIVersion) &&
				!errors.Is(err, host.ErrDuplicate) && !errors.As(err, &he) {
				t.Fatalf("Load failed with an unexpected error %T: %v", err, err)
			}
		} else {
			ictx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			// Small, and read by looper.wasm as "call echo twice".
			_, _ = h.Invoke(ictx, name, []byte("\x02\x00\x00\x00fuzz"))
			cancel()
		}
		out, err := h.Invoke(context.Background(), "echo", []byte("alive"))
		if err != nil || string(out) != "alive" {
			t.Fatalf("host stopped serving echo: %q, %v", out, err)
		}
	})
}

// FuzzEchoPayload sends arbitrary input through echo.wasm: it comes back
// byte for byte, or fails with ErrTooLarge when it exceeds the payload limit.
func FuzzEchoPayload(f *testing.F) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, in := range [][]byte{
		nil, []byte("hello"), {0}, all, []byte("\xff\xfe invalid utf-8 \xc3"),
		bytes.Repeat([]byte{'x'}, 65536-1), // would cross a page boundary without the limit
		bytes.Repeat([]byte{'y'}, fuzzMaxPayload),
		bytes.Repeat([]byte{'z'}, fuzzMaxPayload+1),
	} {
		f.Add(in)
	}
	h := fuzzHost(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := h.Invoke(context.Background(), "echo", in)
		if len(in) > fuzzMaxPayload {
			if !errors.Is(err, host.ErrTooLarge) {
				t.Fatalf("input of %d bytes: got %q, %v; want ErrTooLarge", len(in), out, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("input of %d bytes: %v", len(in), err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("echo of %d bytes returned %d different bytes", len(in), len(out))
		}
	})
}

// TestHostileSizesAreRefusedBeforeDecoding: modules that declare more
// elements than their sections hold, or absurd numbers of locals, fail Load
// with ErrBadModule instead of making wazero allocate gigabytes.
func TestHostileSizesAreRefusedBeforeDecoding(t *testing.T) {
	h := newHost(t, host.Config{}, map[string]string{"echo": wat("echo")})
	mods, err := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		data, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		err = h.Load(context.Background(), "x"+strings.TrimSuffix(filepath.Base(m), ".wasm"), data, "")
		if err != nil && strings.Contains(err.Error(), "declares") {
			t.Errorf("%s: a well-formed module refused as hostile: %v", m, err)
		}
	}
	for name, data := range map[string]string{
		"import count past a short section": "\x00asm\x01\x00\x00\x00\x02b܆\xc9oo",
		"2^28 exports in 5 bytes":           "\x00asm\x01\x00\x00\x00\x07\x05\x80\x80\x80\x80\x01",
		"function count past its section":   "\x00asm\x01\x00\x00\x00\x03\x03\xff\xff\xff\x7f",
		"2^31 locals":                       "\x00asm\x01\x00\x00\x00\x0a\x09\x01\x07\x01\x80\x80\x80\x80\x08\x7f\x0b",
	} {
		t.Run(name, func(t *testing.T) {
			err := h.Load(context.Background(), "hostile", []byte(data), "")
			if !errors.Is(err, host.ErrBadModule) {
				t.Fatalf("got %v, want ErrBadModule", err)
			}
		})
	}
	assertServing(t, h)
}
