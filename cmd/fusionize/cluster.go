package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/adapters/local"
	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/fuser/deploy"
	"github.com/fusionize/fusionize/fuser/invoke"
	"github.com/fusionize/fusionize/guest-sdk/build"
	"github.com/fusionize/fusionize/host"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/runtime/process"
)

func init() {
	extraCommands = append(extraCommands, newServeCmd, newHostCmd, newUpCmd, newDownCmd,
		newInvokeCmd, newStatusCmd, newSetupCmd)
}

// cpFlags are the flags of commands that talk to the control plane.
type cpFlags struct {
	addr        string
	token       string
	invokeToken string
}

func (f *cpFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "control-plane", server.DefaultAddr, "control-plane gRPC address")
	cmd.Flags().StringVar(&f.token, "token", "", "control-plane bearer token (default: read from <data-dir>/token)")
}

// registerInvokeToken adds --invoke-token, for commands that invoke tasks.
func (f *cpFlags) registerInvokeToken(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.invokeToken, "invoke-token", "", "the app's invoke token, which hosts require (default: $FUSIONIZE_INVOKE_TOKEN, else read from <data-dir>/invoke-token)")
}

// invoker returns an Invoker that calls hosts directly, with the app's
// invoke token.
func (f *cpFlags) invoker(cp *client.Client) (*invoke.Invoker, error) {
	tok, err := f.readInvokeToken()
	if err != nil {
		return nil, err
	}
	return invoke.New(cp, invoke.WithInvokeToken(tok)), nil
}

// readInvokeToken returns --invoke-token, else $FUSIONIZE_INVOKE_TOKEN, else
// the control plane's invoke-token file.
func (f *cpFlags) readInvokeToken() (string, error) {
	if f.invokeToken != "" {
		return f.invokeToken, nil
	}
	if tok := os.Getenv("FUSIONIZE_INVOKE_TOKEN"); tok != "" {
		return tok, nil
	}
	tok, err := client.ReadInvokeToken(g.dataDir)
	if err != nil {
		return "", fmt.Errorf("no invoke token: pass --invoke-token or run where %s holds the control plane's data (%w)", g.dataDir, err)
	}
	return tok, nil
}

func (f *cpFlags) dial(ctx context.Context) (*client.Client, error) {
	tok := f.token
	if tok == "" {
		t, err := client.ReadToken(g.dataDir)
		if err != nil {
			return nil, fmt.Errorf("no token: pass --token or run where %s holds the control plane's data (%w)", g.dataDir, err)
		}
		tok = t
	}
	return client.Dial(ctx, f.addr, tok)
}

// withClient makes a RunE that dials the control plane, runs fn and closes
// the connection.
func (f *cpFlags) withClient(fn func(ctx context.Context, cmd *cobra.Command, args []string, cp *client.Client) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		cp, err := f.dial(ctx)
		if err != nil {
			return err
		}
		defer cp.Close()
		return fn(ctx, cmd, args, cp)
	}
}

func pidFile() string { return filepath.Join(g.dataDir, "serve.pid") }

func newServeCmd() *cobra.Command {
	var app, appDir, addr, httpAddr string
	var cf cloudFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane with the local adapter in the foreground",
		Long: `Runs the control plane (module store, setup store, span store, host
registry; gRPC with reflection, and REST) and the deployer, which starts one
local host process per fusion group of each applied setup and switches between
setups without failing requests. 'fusionize up' starts it in the background.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := logger()
			var tasks []string
			var m *manifest.App
			if appDir != "" {
				var err error
				if m, err = manifest.Load(appDir); err != nil {
					return err
				}
				if app == "" {
					app = m.Name
				}
				tasks = m.TaskNames()
			}
			// New takes the data directory's lock, so no other control
			// plane runs on it now.
			cp, err := server.New(server.Options{DataDir: g.dataDir, App: app, Tasks: tasks, Addr: addr, HTTPAddr: httpAddr, ModuleCacheDir: filepath.Join(g.dataDir, "cache"), Logger: log})
			if err != nil {
				return err
			}
			// Hosts a crashed run left would share names with the ones
			// about to start: stop them before the control plane serves.
			if err := stopOrphans(ctx, cmd.OutOrStdout()); err != nil {
				return errors.Join(err, cp.Close())
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			hostCmd := []string{exe, "host", "--data-dir", g.dataDir}
			if g.verbose {
				hostCmd = append(hostCmd, "--verbose")
			}
			ad, ads := localAdapter(local.Options{Command: hostCmd, Dir: filepath.Join(g.dataDir, "local"), Logger: log})
			cl, err := cf.start(ctx, cmd.OutOrStdout(), ads, log)
			if err != nil {
				return err
			}
			dopts := deploy.Options{App: app, ControlPlane: cp.Addr(), Token: cp.Token(), Logger: log}
			if m != nil {
				// Module-fused groups get their fused module built from
				// the app's sources here, where the sources are.
				dopts.Prepare = deploy.FusedModules(m, cp.Store(), deploy.FusedOptions{Check: host.CheckOptions{CacheDir: filepath.Join(g.dataDir, "cache")}})
			}
			dep := deploy.New(cp.Store(), ads, dopts)
			if err := os.WriteFile(pidFile(), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				return err
			}
			defer os.Remove(pidFile())
			fmt.Fprintf(cmd.OutOrStdout(), "control plane: grpc %s, http http://%s (token in %s, invoke token in %s)\n", cp.Addr(), cp.HTTPAddr(), server.TokenPath(g.dataDir), server.InvokeTokenPath(g.dataDir))
			// Shutdown order: stop deploying, stop the hosts (they flush
			// their last spans), then stop the control plane.
			cpCtx, stopCP := context.WithCancel(context.WithoutCancel(ctx))
			defer stopCP()
			errc := make(chan error, 1)
			go func() { errc <- cp.Serve(cpCtx) }()
			depErr := dep.Run(ctx)
			closeCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			adErr := errors.Join(ad.Close(closeCtx), cl.close(closeCtx))
			stopCP()
			cpErr := <-errc
			if errors.Is(depErr, context.Canceled) {
				depErr = nil
			}
			return errors.Join(depErr, adErr, cpErr)
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "application name")
	cmd.Flags().StringVar(&appDir, "app-dir", "", "app folder: a setup that leaves out a task of its manifest is refused, and module-fused groups are built from its sources")
	cmd.Flags().StringVar(&addr, "addr", server.DefaultAddr, "control-plane gRPC listen address")
	cmd.Flags().StringVar(&httpAddr, "http-addr", server.DefaultHTTPAddr, "REST, /healthz and /metrics listen address")
	cf.register(cmd.Flags())
	return cmd
}

func newHostCmd() *cobra.Command {
	var o process.Options
	cmd := &cobra.Command{
		Use:   "host",
		Short: "Run one host process for one fusion group (started by adapters)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Token == "" {
				o.Token = os.Getenv("FUSIONIZE_TOKEN")
			}
			if o.InvokeToken == "" {
				o.InvokeToken = os.Getenv("FUSIONIZE_INVOKE_TOKEN")
			}
			o.CacheDir = filepath.Join(g.dataDir, "cache")
			o.Logger = logger()
			return process.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.App, "app", "", "application name")
	f.StringVar(&o.Group, "group", "", "fusion group to serve")
	f.Int64Var(&o.SetupVersion, "setup-version", 0, "setup version (0: the current one)")
	f.StringVar(&o.ControlPlane, "control-plane", server.DefaultAddr, "control-plane address")
	f.StringVar(&o.Token, "token", "", "control-plane token (default $FUSIONIZE_TOKEN)")
	f.StringVar(&o.InvokeToken, "invoke-token", "", "the app's invoke token, required on Invoke (default $FUSIONIZE_INVOKE_TOKEN)")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:0", "gRPC listen address")
	f.StringVar(&o.HTTPListen, "http-listen", "127.0.0.1:0", "REST, /healthz and /metrics listen address")
	f.StringVar(&o.ReadyFile, "ready-file", "", "write the bound addresses here once serving")
	f.DurationVar(&o.OrphanAfter, "orphan-after", process.DefaultOrphanAfter, "stop after failing to reach the control plane this long")
	return cmd
}

func newUpCmd() *cobra.Command {
	var cf cpFlags
	var httpAddr, provider, awsMode string
	var memory int
	cmd := &cobra.Command{
		Use:   "up <app-dir>",
		Short: "Build an app, start the control plane and one local host per task, and print the endpoints",
		Long: `Builds the app if needed, starts 'fusionize serve' in the background (logs in
<data-dir>/serve.log), uploads the modules, applies the paper's initial setup
(every task in its own group) unless a setup exists, waits until every group's
host is healthy, and prints the endpoints. Stop everything with 'fusionize down'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			w := cmd.OutOrStdout()
			app, err := manifest.Load(args[0])
			if err != nil {
				return err
			}
			if _, running := runningServe(); !running {
				if err := portsFree(cf.addr, httpAddr); err != nil {
					return err
				}
			}
			results, err := buildApp(cmd, app, build.Options{}, w)
			if err != nil {
				return err
			}
			var extra []string
			switch provider {
			case "local":
			case aws.Provider:
				if awsMode == "" {
					awsMode = "emulate"
				}
				extra = append(extra, "--aws", awsMode)
			case gcp.Provider:
				extra = append(extra, "--gcp", "emulate")
			default:
				return fmt.Errorf("--provider %q: want local, aws or gcp", provider)
			}
			appDir, err := filepath.Abs(app.Dir)
			if err != nil {
				return err
			}
			extra = append(extra, "--app-dir", appDir)
			if err := startServe(ctx, w, app.Name, cf.addr, httpAddr, extra...); err != nil {
				return err
			}
			cp, err := cf.dial(ctx)
			if err != nil {
				return err
			}
			defer cp.Close()
			for _, r := range results {
				if _, err := cp.UploadModuleFile(ctx, r.Task, r.Module); err != nil {
					return err
				}
			}
			fmt.Fprintf(w, "uploaded %d modules\n", len(results))
			st, err := cp.Status(ctx)
			if err != nil {
				return err
			}
			v := st.SetupVersion
			if v == 0 {
				place := setup.Place{Provider: provider}
				switch provider {
				case aws.Provider:
					place.Region = "us-east-1"
				case gcp.Provider:
					place.Region = "us-east4"
				}
				su := setup.Separate(0, app.TaskNames(), place, memory)
				if v, err = cp.ApplySetup(ctx, su); err != nil {
					return err
				}
				fmt.Fprintf(w, "applied setup version %d: every task in its own group\n", v)
			}
			if err := waitActive(ctx, cp, v, 3*time.Minute); err != nil {
				return err
			}
			// After a restart the active version is the one recorded
			// before it, and its hosts are being started again: wait for
			// them too.
			if err := waitServing(ctx, cp, 3*time.Minute); err != nil {
				return err
			}
			return printStatus(ctx, w, cp, cf.addr)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&httpAddr, "http-addr", server.DefaultHTTPAddr, "control-plane REST listen address")
	cmd.Flags().IntVar(&memory, "memory", 128, "memory size (MB) of the initial groups")
	cmd.Flags().StringVar(&provider, "provider", "local", `where the initial groups run: "local" (host processes), "aws" (Lambda functions) or "gcp" (Cloud Functions), the clouds emulated`)
	cmd.Flags().StringVar(&awsMode, "aws", "", `with --provider aws: "emulate" (default: the Lambda emulator), "cloud" or a Lambda API URL`)
	return cmd
}

// portsFree checks that nothing listens on the control plane's addresses
// yet. Another process there (often the control plane of another data
// directory) would answer the health check in place of the one up starts,
// and the next step would fail for want of this data directory's token.
func portsFree(addrs ...string) error {
	for _, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("cannot start the control plane: address %s is already in use, probably by another control plane (stop it with 'fusionize down --data-dir <its dir>', or choose free ports with --control-plane and --http-addr): %w", addr, err)
			}
			return fmt.Errorf("cannot start the control plane on %s: %w", addr, err)
		}
		if err := l.Close(); err != nil {
			return err
		}
	}
	return nil
}

// startServe starts `fusionize serve` in the background unless one runs.
func startServe(ctx context.Context, w io.Writer, app, addr, httpAddr string, extra ...string) error {
	if pid, ok := runningServe(); ok {
		fmt.Fprintf(w, "control plane already running (pid %d)\n", pid)
		return nil
	}
	if err := portsFree(addr, httpAddr); err != nil {
		return err
	}
	if err := os.MkdirAll(g.dataDir, 0o700); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := filepath.Join(g.dataDir, "serve.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"serve", "--data-dir", absDataDir(), "--app", app, "--addr", addr, "--http-addr", httpAddr, "--verbose"}
	args = append(args, extra...)
	c := exec.Command(exe, args...) //nolint:gosec // our own executable
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	// Ready when the child has written its pid file (it has bound its
	// listeners) and /healthz answers.
	url := "http://" + httpAddr + "/healthz"
	// Before it serves, the control plane stops the hosts a crashed run
	// left, giving each orphanDrain to drain: wait that long beyond the 30 s.
	limit := 30*time.Second + orphanDrain
	deadline := time.Now().Add(limit)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if pid, ok := runningServe(); ok && pid == c.Process.Pid {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					fmt.Fprintf(w, "control plane started (pid %d, log %s)\n", c.Process.Pid, logPath)
					return nil
				}
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("control plane exited (%v): %s (log %s)", err, lastLine(logPath), logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("control plane not healthy at %s after %s; see %s", url, limit, logPath)
		}
	}
}

// lastLine returns the last non-empty line of the file at path, or "" when
// it cannot be read.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func runningServe() (int, bool) {
	b, err := os.ReadFile(pidFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if !isServe(pid) {
		return 0, false
	}
	return pid, true
}

// isServe reports whether pid is a live `fusionize serve` of this data
// directory (its command line says so), not a process that reused the pid
// of one that died.
func isServe(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc: trust the pid
	}
	if i := strings.LastIndexByte(string(stat), ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	return slices.Contains(args, "serve") && (slices.Contains(args, g.dataDir) || slices.Contains(args, absDataDir()))
}

// absDataDir is the data directory as an absolute path: what `up` passes
// to the control plane it starts, so `down` recognizes it from anywhere.
func absDataDir() string {
	if abs, err := filepath.Abs(g.dataDir); err == nil {
		return abs
	}
	return g.dataDir
}

// waitActive waits until setup version v is active and its hosts
// registered, or returns at once with the deployer's reason when v failed
// to deploy.
func waitActive(ctx context.Context, cp *client.Client, v int64, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := cp.WaitActive(ctx, v); err != nil {
		if errors.Is(err, client.ErrDeployFailed) {
			return fmt.Errorf("%w (control plane log: %s)", err, filepath.Join(g.dataDir, "serve.log"))
		}
		return fmt.Errorf("setup version %d not active after %s (see %s)", v, limit, filepath.Join(g.dataDir, "serve.log"))
	}
	return nil
}

// waitServing waits until every group of the active setup version that
// runs as a host process (a gRPC endpoint) has a host registered at the
// endpoint recorded for it.
func waitServing(ctx context.Context, cp *client.Client, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		missing, err := unservedGroups(ctx, cp)
		if err == nil && len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("no host registered at the recorded endpoint of group(s) %s", strings.Join(missing, ", "))
			}
			return fmt.Errorf("active setup not serving after %s: %w (see %s)", limit, err, filepath.Join(g.dataDir, "serve.log"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func unservedGroups(ctx context.Context, cp *client.Client) ([]string, error) {
	st, err := cp.Status(ctx)
	if err != nil {
		return nil, err
	}
	su, eps, err := cp.SetupEndpoints(ctx, st.ActiveVersion)
	if err != nil {
		return nil, err
	}
	hosts, err := cp.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	at := map[string]bool{}
	for _, h := range hosts {
		if h.SetupVersion == su.Version {
			at[h.Group+" "+h.Address] = true
		}
	}
	var missing []string
	for _, gr := range su.Groups {
		ep, ok := eps[gr.Name]
		if !ok || (ep.Kind == api.KindGRPC && !at[gr.Name+" "+ep.Address]) {
			missing = append(missing, gr.Name)
		}
	}
	return missing, nil
}

func newDownCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop the control plane started by 'fusionize up' and every host it runs",
		Long: `Stops the control plane (which stops its hosts first), then any host a
crashed control plane left running (found from the pid files under
<data-dir>/local and checked in /proc before it is signalled).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			pid, ok := runningServe()
			if ok {
				if err := stopServe(pid); err != nil {
					return err
				}
				fmt.Fprintf(w, "stopped control plane (pid %d) and its hosts\n", pid)
			}
			n, err := countOrphans(cmd.Context(), w)
			if !ok && n == 0 && err == nil {
				fmt.Fprintln(w, "nothing running")
			}
			return err
		},
	}
}

// stopServe stops the control plane at pid and waits for it to exit.
func stopServe(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	for range 600 {
		if !isServe(pid) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("control plane (pid %d) still running after 60s", pid)
}

// orphanDrain is how long a host a crashed run left gets to drain before
// it is killed (the local adapter's default drain timeout).
const orphanDrain = 30 * time.Second

// stopOrphans stops the hosts a crashed run left under <data-dir>/local.
func stopOrphans(ctx context.Context, w io.Writer) error {
	_, err := countOrphans(ctx, w)
	return err
}

func countOrphans(ctx context.Context, w io.Writer) (int, error) {
	orphans, err := local.StopOrphans(ctx, filepath.Join(g.dataDir, "local"), orphanDrain)
	for _, o := range orphans {
		how := "stopped"
		if o.Killed {
			how = "killed (did not drain in " + orphanDrain.String() + ")"
		}
		fmt.Fprintf(w, "host %s (pid %d) left by a crashed control plane: %s\n", o.ID, o.PID, how)
	}
	return len(orphans), err
}

func newInvokeCmd() *cobra.Command {
	var cf cpFlags
	var data, dataFile string
	var async, direct, verbose bool
	cmd := &cobra.Command{
		Use:   "invoke <task>",
		Short: "Invoke a task of the running app through its entry point and print the output",
		Long: `Sends one request to a task of the running app and prints the output.

By default the request goes to the app's stable entry point: the control
plane's own gRPC address (--control-plane), which forwards it to the group of
the active setup version that holds the task and follows live switches. Only
the invoke token is needed. With --direct the command asks the control plane
for the endpoint recorded for the task's group and calls that host itself
(this also needs the control-plane token).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			input, err := invokeInput(data, dataFile, cmd.InOrStdin())
			if err != nil {
				return err
			}
			var inv *invoke.Invoker
			if direct {
				cp, err := cf.dial(ctx)
				if err != nil {
					return err
				}
				defer cp.Close()
				inv, err = cf.invoker(cp)
				if err != nil {
					return err
				}
			} else {
				tok, err := cf.readInvokeToken()
				if err != nil {
					return err
				}
				inv = invoke.NewEntry(cf.addr, invoke.WithInvokeToken(tok))
			}
			defer inv.Close()
			ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			// A trace of its own, so the request can be found in the
			// spans (and, with -v, in an OpenTelemetry backend).
			traceID, err := newTraceID()
			if err != nil {
				return err
			}
			var spanID uint64
			ictx = grpctransport.WithResponseSpan(ictx, &spanID)
			start := time.Now()
			res, err := inv.Call(ictx, host.Call{Task: args[0], Input: input, Async: async, TraceID: traceID})
			if err != nil {
				if verbose {
					fmt.Fprintf(cmd.ErrOrStderr(), "(trace %s)\n", traceID)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", res.Output)
			if direct {
				fmt.Fprintf(cmd.ErrOrStderr(), "(%s via %v, setup version %d)\n", time.Since(start).Round(time.Microsecond), res.Endpoint, res.Version)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "(%s via the entry point %s)\n", time.Since(start).Round(time.Microsecond), cf.addr)
			}
			if verbose {
				if spanID != 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "(trace %s span %016x)\n", traceID, spanID)
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "(trace %s)\n", traceID)
				}
			}
			return nil
		},
	}
	cf.register(cmd)
	cf.registerInvokeToken(cmd)
	cmd.Flags().StringVar(&data, "data", "", "request body, sent as given (a leading @ is part of it)")
	cmd.Flags().StringVar(&dataFile, "data-file", "", `read the request body from this file ("-": standard input)`)
	cmd.MarkFlagsMutuallyExclusive("data", "data-file")
	cmd.Flags().BoolVar(&async, "async", false, "fire and forget: return once the host accepted the call")
	cmd.Flags().BoolVar(&direct, "direct", false, "call the host of the task's group directly instead of through the entry point")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the W3C trace id of the request and the span id of its entry invocation (gRPC endpoints answer it)")
	return cmd
}

// newTraceID returns a random W3C trace id (32 lowercase hex digits).
func newTraceID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("trace id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// invokeInput returns the request body of invoke: the --data literal, or
// the content of --data-file ("-" reads r).
func invokeInput(data, dataFile string, r io.Reader) ([]byte, error) {
	switch dataFile {
	case "":
		return []byte(data), nil
	case "-":
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("--data-file -: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(dataFile)
	if err != nil {
		return nil, fmt.Errorf("--data-file: %w", err)
	}
	return b, nil
}

func newStatusCmd() *cobra.Command {
	var cf cpFlags
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the control plane, the active setup and the live hosts",
		Long: `Shows the control plane, the active setup's groups with their endpoints and
the metrics address of their live hosts.

With -o prometheus-sd it prints instead the live hosts as a Prometheus
file_sd_configs target list (JSON): one target per host, its /metrics
address, labelled fusionize_app, fusionize_group and fusionize_host. Write it
to a file Prometheus watches, e.g. every few seconds from cron or a loop:

  fusionize status -o prometheus-sd > /etc/prometheus/fusionize.json`,
		Args: cobra.NoArgs,
		RunE: cf.withClient(func(ctx context.Context, cmd *cobra.Command, _ []string, cp *client.Client) error {
			switch output {
			case "text":
				return printStatus(ctx, cmd.OutOrStdout(), cp, cf.addr)
			case "prometheus-sd":
				st, err := cp.Status(ctx)
				if err != nil {
					return err
				}
				hosts, err := cp.Hosts(ctx)
				if err != nil {
					return err
				}
				b, err := prometheusSD(st.App, hosts)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			return fmt.Errorf("status: unknown output %q: want text or prometheus-sd", output)
		}),
	}
	cf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, or prometheus-sd (a file_sd target list of the live hosts' /metrics)")
	return cmd
}

// sdTargetGroup is one entry of a Prometheus file_sd target list.
type sdTargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// prometheusSD returns the live hosts that serve /metrics as a Prometheus
// file_sd target list, sorted by host name; a host without a metrics
// address is left out. The setup version is not a target label: every
// series of a host carries it already (setup_version).
func prometheusSD(app string, hosts []api.HostInfo) ([]byte, error) {
	groups := []sdTargetGroup{}
	sorted := append([]api.HostInfo(nil), hosts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, h := range sorted {
		if h.MetricsAddress == "" {
			continue
		}
		groups = append(groups, sdTargetGroup{Targets: []string{h.MetricsAddress}, Labels: map[string]string{
			"fusionize_app": app, "fusionize_group": h.Group, "fusionize_host": h.Name,
			"fusionize_setup_version": strconv.FormatInt(h.SetupVersion, 10),
		}})
	}
	b, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func printStatus(ctx context.Context, w io.Writer, cp *client.Client, addr string) error {
	st, err := cp.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "app %s: control plane %s, setup version %d (active %d), %d modules, %d hosts, %d spans\n",
		st.App, addr, st.SetupVersion, st.ActiveVersion, st.Modules, st.Hosts, st.Spans)
	if st.FailedVersion > st.ActiveVersion {
		fmt.Fprintf(w, "setup version %d failed to deploy: %s\n", st.FailedVersion, st.DeployError)
	}
	if st.ActiveVersion == 0 {
		return nil
	}
	su, eps, err := cp.SetupEndpoints(ctx, st.ActiveVersion)
	if err != nil {
		return err
	}
	// Routes come from the recorded endpoints; the heartbeat registry only
	// says whether a host is alive.
	hosts, err := cp.Hosts(ctx)
	if err != nil {
		return err
	}
	alive := map[string]bool{}
	metrics := map[string][]string{}
	for _, h := range hosts {
		if h.SetupVersion == su.Version {
			alive[h.Group] = true
			if h.MetricsAddress != "" {
				metrics[h.Group] = append(metrics[h.Group], h.MetricsAddress)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTASKS\tMEMORY\tPLACE\tENDPOINT\tHEARTBEAT\tMETRICS")
	groups := append([]setup.Group(nil), su.Groups...)
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	for _, gr := range groups {
		ep := "(not recorded)"
		hb := "missing"
		if e, ok := eps[gr.Name]; ok {
			ep = e.String()
			if e.Kind != api.KindGRPC {
				hb = "-" // functions on a platform send none
			}
		}
		if alive[gr.Name] {
			hb = "ok"
		}
		m := "-"
		if addrs := metrics[gr.Name]; len(addrs) > 0 {
			slices.Sort(addrs)
			m = strings.Join(addrs, ",")
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%d MB\t%s\t%s\t%s\t%s\n", gr.Name, strings.Join(gr.Tasks, ","), fusionMark(gr), gr.MemoryMB, gr.Place, ep, hb, m)
	}
	return tw.Flush()
}

func newSetupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "setup", Short: "Show or apply fusion setups"}
	var cf cpFlags
	var wait bool
	apply := &cobra.Command{
		Use:   "apply <file.json>",
		Short: "Apply a fusion setup: deploy its groups, switch routing, drain the old ones",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			su, err := setup.Load(args[0])
			if err != nil {
				return err
			}
			cp, err := cf.dial(ctx)
			if err != nil {
				return err
			}
			defer cp.Close()
			v, err := cp.ApplySetup(ctx, su)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied setup version %d: %s\n", v, su.Partition())
			if !wait {
				return nil
			}
			if err := waitActive(ctx, cp, v, 3*time.Minute); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "setup version %d is active\n", v)
			return nil
		},
	}
	cf.register(apply)
	apply.Flags().BoolVar(&wait, "wait", true, "wait until the new setup serves")
	var scf cpFlags
	var version int64
	show := &cobra.Command{
		Use:   "show",
		Short: "Print a setup as JSON (default: the active one)",
		Args:  cobra.NoArgs,
		RunE: scf.withClient(func(ctx context.Context, cmd *cobra.Command, _ []string, cp *client.Client) error {
			if version == 0 {
				st, err := cp.Status(ctx)
				if err != nil {
					return err
				}
				version = st.ActiveVersion
			}
			su, err := cp.Setup(ctx, version)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), su)
		}),
	}
	scf.register(show)
	show.Flags().Int64Var(&version, "version", 0, "setup version")
	cmd.AddCommand(apply, show)
	return cmd
}

// localAdapter returns the local adapter and the deployer's adapters, in
// which it serves provider "local".
func localAdapter(opts local.Options) (*local.Adapter, adapters.Adapters) {
	ad := local.New(opts)
	return ad, adapters.Adapters{local.Provider: ad}
}
