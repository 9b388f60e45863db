package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	"github.com/fusionize/fusionize/runtime/process"
)

func init() {
	extraCommands = append(extraCommands, newServeCmd, newHostCmd, newUpCmd, newDownCmd,
		newInvokeCmd, newStatusCmd, newSetupCmd)
}

// cpFlags are the flags of commands that talk to the control plane.
type cpFlags struct {
	addr  string
	token string
}

func (f *cpFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "control-plane", server.DefaultAddr, "control-plane gRPC address")
	cmd.Flags().StringVar(&f.token, "token", "", "control-plane bearer token (default: read from <data-dir>/token)")
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
	var app, addr, httpAddr string
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
			cp, err := server.New(server.Options{DataDir: g.dataDir, App: app, Addr: addr, HTTPAddr: httpAddr, Logger: log})
			if err != nil {
				return err
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
			dep := deploy.New(cp.Store(), ads, deploy.Options{App: app, ControlPlane: cp.Addr(), Token: cp.Token(), Logger: log})
			if err := os.WriteFile(pidFile(), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				return err
			}
			defer os.Remove(pidFile())
			fmt.Fprintf(cmd.OutOrStdout(), "control plane: grpc %s, http http://%s (token in %s)\n", cp.Addr(), cp.HTTPAddr(), server.TokenPath(g.dataDir))
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
	f.StringVar(&o.Listen, "listen", "127.0.0.1:0", "gRPC listen address")
	f.StringVar(&o.HTTPListen, "http-listen", "127.0.0.1:0", "REST, /healthz and /metrics listen address")
	f.StringVar(&o.ReadyFile, "ready-file", "", "write the bound addresses here once serving")
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

// startServe starts `fusionize serve` in the background unless one runs.
func startServe(ctx context.Context, w io.Writer, app, addr, httpAddr string, extra ...string) error {
	if pid, ok := runningServe(); ok {
		fmt.Fprintf(w, "control plane already running (pid %d)\n", pid)
		return nil
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
	args := []string{"serve", "--data-dir", g.dataDir, "--app", app, "--addr", addr, "--http-addr", httpAddr, "--verbose"}
	args = append(args, extra...)
	c := exec.Command(exe, args...) //nolint:gosec // our own executable
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	// Ready when /healthz answers.
	url := "http://" + httpAddr + "/healthz"
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Fprintf(w, "control plane started (pid %d, log %s)\n", c.Process.Pid, logPath)
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("control plane exited (%v); see %s", err, logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("control plane not healthy at %s after 30s; see %s", url, logPath)
		}
	}
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
	if syscall.Kill(pid, 0) != nil {
		return 0, false
	}
	return pid, true
}

// waitActive waits until setup version v is active and its hosts registered.
func waitActive(ctx context.Context, cp *client.Client, v int64, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := cp.WaitActive(ctx, v); err != nil {
		return fmt.Errorf("setup version %d not active after %s (see %s)", v, limit, filepath.Join(g.dataDir, "serve.log"))
	}
	return nil
}

func newDownCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop the control plane started by 'fusionize up' and every host it runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pid, ok := runningServe()
			if !ok {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing running")
				return nil
			}
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				return err
			}
			for range 600 {
				if syscall.Kill(pid, 0) != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "stopped control plane (pid %d) and its hosts\n", pid)
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
			return fmt.Errorf("control plane (pid %d) still running after 60s", pid)
		},
	}
}

func newInvokeCmd() *cobra.Command {
	var cf cpFlags
	var data string
	var async bool
	cmd := &cobra.Command{
		Use:   "invoke <task>",
		Short: "Invoke a task of the running app at its group's recorded endpoint and print the output",
		Args:  cobra.ExactArgs(1),
		RunE: cf.withClient(func(ctx context.Context, cmd *cobra.Command, args []string, cp *client.Client) error {
			input := []byte(data)
			if strings.HasPrefix(data, "@") {
				var err error
				if input, err = os.ReadFile(data[1:]); err != nil {
					return err
				}
			}
			inv := invoke.New(cp)
			defer inv.Close()
			ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			start := time.Now()
			res, err := inv.Call(ictx, host.Call{Task: args[0], Input: input, Async: async})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", res.Output)
			fmt.Fprintf(cmd.ErrOrStderr(), "(%s via %v, setup version %d)\n", time.Since(start).Round(time.Microsecond), res.Endpoint, res.Version)
			return nil
		}),
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&data, "data", "", "request body, or @file")
	cmd.Flags().BoolVar(&async, "async", false, "fire and forget: return once the host accepted the call")
	return cmd
}

func newStatusCmd() *cobra.Command {
	var cf cpFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the control plane, the active setup and the live hosts",
		Args:  cobra.NoArgs,
		RunE: cf.withClient(func(ctx context.Context, cmd *cobra.Command, _ []string, cp *client.Client) error {
			return printStatus(ctx, cmd.OutOrStdout(), cp, cf.addr)
		}),
	}
	cf.register(cmd)
	return cmd
}

func printStatus(ctx context.Context, w io.Writer, cp *client.Client, addr string) error {
	st, err := cp.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "app %s: control plane %s, setup version %d (active %d), %d modules, %d hosts, %d spans\n",
		st.App, addr, st.SetupVersion, st.ActiveVersion, st.Modules, st.Hosts, st.Spans)
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
	for _, h := range hosts {
		if h.SetupVersion == su.Version {
			alive[h.Group] = true
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTASKS\tMEMORY\tPLACE\tENDPOINT\tHEARTBEAT")
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
		fmt.Fprintf(tw, "%s\t%s\t%d MB\t%s\t%s\t%s\n", gr.Name, strings.Join(gr.Tasks, ","), gr.MemoryMB, gr.Place, ep, hb)
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
