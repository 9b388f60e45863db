package gcp_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/adaptertest"
	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/emulators/gcf"
	"github.com/fusionize/fusionize/emulators/tasks"
)

// vendorCache is shared by every test's packager: vendoring runs once per
// test binary, as it runs once per source digest in use.
var vendorCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fusionize-gcp-test-")
	if err != nil {
		panic(err)
	}
	vendorCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func wasm(t testing.TB, task string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "host", "testdata", task+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// platform is a Cloud Functions emulator, a Cloud Tasks emulator and a
// control plane on loopback, with the test modules uploaded.
type platform struct {
	emu   *gcf.Emulator
	queue *tasks.Emulator
	env   adaptertest.Env
	dir   string
	logs  *logBuffer // what the emulator logged, its instances' output included
}

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newPlatform(t testing.TB, taskOpts tasks.Options) *platform {
	t.Helper()
	p := &platform{dir: t.TempDir(), logs: &logBuffer{}}
	emu, err := gcf.New(gcf.Options{Dir: p.dir, PendingTimeout: 5 * time.Second, Logger: slog.New(slog.NewJSONHandler(p.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := emu.Close(ctx); err != nil {
			t.Errorf("emulator Close: %v", err)
		}
		if left := processesUnder(p.dir); len(left) > 0 {
			t.Errorf("processes left after the emulator closed: %q", left)
		}
	})
	p.emu = emu
	p.queue = tasks.New(taskOpts)
	if err := p.queue.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.queue.Close() })

	cp, err := server.New(server.Options{
		DataDir: t.TempDir(), App: "gcptest", Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		ShutdownTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- cp.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("control plane: %v", err)
		}
	})
	p.env = adaptertest.Env{ControlPlane: cp.Addr(), Token: cp.Token(), InvokeToken: cp.InvokeToken(), App: "gcptest", DeployTimeout: 3 * time.Minute, Record: cp.Store().SetEndpoints, Plant: cp.Store().PutModule}
	return p
}

func (p *platform) adapter(t testing.TB, opts gcp.Options) *gcp.Adapter {
	t.Helper()
	opts.Endpoint = p.emu.GRPCAddr()
	if opts.Packager == nil {
		opts.Packager = gcp.NewPackager(vendorCache, slog.New(slog.DiscardHandler))
	}
	opts.PollInterval = 20 * time.Millisecond
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := gcp.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := a.Close(ctx); err != nil && !errors.Is(err, adapters.ErrClosed) {
			t.Errorf("adapter Close: %v", err)
		}
	})
	return a
}

// leftovers lists the functions and instance processes left on the
// emulator.
func (p *platform) leftovers(a *gcp.Adapter) func() []string {
	return func() []string {
		left := processesUnder(p.dir)
		eps, err := a.List(context.Background())
		if err != nil && !strings.Contains(err.Error(), "closing") {
			left = append(left, "List: "+err.Error())
		}
		for _, ep := range eps {
			left = append(left, "function "+adapters.ID(ep.Group, ep.Version)+" "+ep.Endpoint.URL)
		}
		return left
	}
}

// processesUnder lists the processes whose executable lies under dir.
func processesUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, dir) {
			out = append(out, d.Name()+" "+exe)
		}
	}
	return out
}

func gcpGroups(groups ...setup.Group) []setup.Group {
	for i := range groups {
		groups[i].Place = setup.Place{Provider: gcp.Provider}
	}
	return groups
}

// zipFiles lists a zip's entries with their contents.
func zipFiles(t testing.TB, data []byte) map[string][]byte {
	t.Helper()
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = b
	}
	return out
}

// killProcess kills the process a processesUnder line names.
func killProcess(line string) {
	pid, err := strconv.Atoi(strings.Fields(line)[0])
	if err != nil {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
