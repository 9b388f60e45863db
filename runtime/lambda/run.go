package lambda

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	cpclient "github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/runtime/process"
)

// Environment variables the runtime reads besides Lambda's own.
const (
	EnvControlPlane = "FUSIONIZE_CONTROL_PLANE" // where spans go; "" keeps none
	EnvToken        = "FUSIONIZE_TOKEN"
)

// Options configure Run. The zero value reads everything from the
// execution environment.
type Options struct {
	// TaskRoot is the unpacked deployment package. Default
	// $LAMBDA_TASK_ROOT, else the bootstrap's directory.
	TaskRoot string
	// Host tunes the host; Name, Group, App, MemoryMB, Recorder, Transport
	// and CacheDir are set by Run.
	Host   host.Config
	Logger *slog.Logger
	// Transport carries calls to other groups. Nil: such calls fail with
	// CodeUnavailable.
	Transport host.Transport
}

// Run serves the deployment package's group in this execution environment
// until ctx ends (SIGTERM) or the Runtime API goes away. An error before the
// first event is reported to the Runtime API as an init error.
func Run(ctx context.Context, opts Options) error {
	start := time.Now()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	h, rep, err := load(ctx, opts, log)
	if err != nil {
		if rerr := ReportInitError(ctx, "Runtime.InitError", err); rerr != nil {
			log.Error("init error not reported", "err", rerr)
		}
		return err
	}
	log.Info("group loaded", "host", h.Name(), "tasks", h.Tasks(), "init", time.Since(start))
	var flush func(context.Context) error
	if rep != nil {
		flush = func(ctx context.Context) error {
			rep.Flush(ctx)
			return nil
		}
	}
	handler := NewHandler(h, flush, log)
	stop := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if flush != nil {
			_ = flush(cctx)
		}
		_ = h.Close(cctx)
	}
	awslambda.StartWithOptions(handler.Handle, awslambda.WithContext(ctx), awslambda.WithEnableSIGTERM(stop))
	return nil
}

// load builds the host of the package's group: its modules, its setup, its
// telemetry.
func load(ctx context.Context, opts Options, log *slog.Logger) (*host.Host, *process.Reporter, error) {
	root := opts.TaskRoot
	if root == "" {
		root = os.Getenv("LAMBDA_TASK_ROOT")
	}
	if root == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		root = filepath.Dir(exe)
	}
	cfg, err := ReadConfig(root)
	if err != nil {
		return nil, nil, err
	}
	var su setup.Setup
	if err := json.Unmarshal(cfg.Setup, &su); err != nil {
		return nil, nil, fmt.Errorf("lambda package: setup: %w", err)
	}
	name := fmt.Sprintf("%s@v%d", cfg.Group, cfg.SetupVersion)
	if stream := os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME"); stream != "" {
		name += "/" + stream
	}
	hc := opts.Host
	hc.Name, hc.Group, hc.App, hc.MemoryMB = name, cfg.Group, cfg.App, cfg.MemoryMB
	hc.Transport = opts.Transport
	if hc.Logger == nil {
		hc.Logger = log
	}
	if hc.PoolSize == 0 {
		// One request at a time per environment: one idle instance per
		// task is enough for a sync chain; async fan-outs create more.
		hc.PoolSize = 2
	}
	hc.CacheDir, err = cacheDir(root)
	if err != nil {
		log.Warn("no compilation cache", "err", err)
	}
	var rep *process.Reporter
	if addr := os.Getenv(EnvControlPlane); addr != "" {
		cp, err := cpclient.Dial(ctx, addr, os.Getenv(EnvToken))
		if err != nil {
			return nil, nil, fmt.Errorf("control plane %s: %w", addr, err)
		}
		rep = process.NewReporter(name, cp, 100_000, 1000, time.Hour, log)
		hc.Recorder = rep
	} else {
		hc.Recorder = span.Discard
	}
	h, err := host.New(ctx, hc)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range cfg.Modules {
		if err := h.LoadFile(ctx, m.Task, filepath.Join(root, filepath.FromSlash(m.Path)), m.Digest); err != nil {
			_ = h.Close(ctx)
			return nil, nil, err
		}
	}
	if err := h.SetSetup(&su); err != nil {
		_ = h.Close(ctx)
		return nil, nil, err
	}
	return h, rep, nil
}

// cacheDir returns a writable compilation cache holding the package's
// precompiled modules: the package's own cache directory where it is
// writable (the emulator), else a copy in /tmp (Lambda's task root is
// read-only; wazero writes to its cache on a miss).
func cacheDir(root string) (string, error) {
	src := filepath.Join(root, CacheDir)
	if _, err := os.Stat(src); err != nil {
		return filepath.Join(os.TempDir(), "fusionize-cache"), nil
	}
	probe, err := os.CreateTemp(src, ".probe-")
	if err == nil {
		probe.Close()
		return src, os.Remove(probe.Name())
	}
	dst := filepath.Join(os.TempDir(), "fusionize-cache")
	return dst, copyTree(src, dst)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// InLambda reports whether the process runs in a Lambda execution
// environment (the Runtime API address is set).
func InLambda() bool { return strings.TrimSpace(os.Getenv("AWS_LAMBDA_RUNTIME_API")) != "" }
