package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/host"

	"github.com/spf13/cobra"

	"github.com/fusionize/fusionize/adapters"
	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/deploy"
	"github.com/fusionize/fusionize/fuser/invoke"
	"github.com/fusionize/fusionize/fuser/loop"
	"github.com/fusionize/fusionize/fuser/optimize"
	"github.com/fusionize/fusionize/fuser/report"
	"github.com/fusionize/fusionize/guest-sdk/build"
)

func init() {
	extraCommands = append(extraCommands, newDemoCmd, newOptimizeCmd, newHistoryCmd)
}

// loopFlags are shared by demo and optimize.
type loopFlags struct {
	strategy    string
	requests    int
	concurrency int
	max         int
	capture     string
	watch       time.Duration // keep watching after convergence (watch.go)
	prices      string        // the --prices file
}

// register adds the flags with these defaults.
func (f *loopFlags) register(cmd *cobra.Command, def loopFlags) {
	cmd.Flags().StringVar(&f.strategy, "strategy", "model", "optimizer strategy: model (learned model and search) or paper (the published heuristic)")
	cmd.Flags().IntVar(&f.requests, "requests", def.requests, "requests per observation window")
	cmd.Flags().IntVar(&f.concurrency, "concurrency", def.concurrency, "requests in flight while observing")
	cmd.Flags().IntVar(&f.max, "max-deployments", def.max, "stop after this many deployments")
	f.registerWatch(cmd)
}

// optimizeDefaults are the loop's defaults for an app already up.
var optimizeDefaults = loopFlags{requests: 120, concurrency: 8, max: 15}

// demoDefaults keep `make demo` within minutes on a 2-core machine: every
// request in flight on Lambda holds an execution environment (a process)
// per function it passes through.
var demoDefaults = loopFlags{requests: 48, concurrency: 4, max: 8}

// demoPlaces are the emulated platforms the model strategy places groups
// on; the paper strategy places every group on the first.
var demoPlaces = []setup.Place{
	{Provider: aws.Provider, Region: "us-east-1"},
	{Provider: gcp.Provider, Region: "us-east4"},
}

// demoClouds are the clouds of the demo: both emulated in this process.
var demoClouds = cloudFlags{
	aws: "emulate", awsRegion: demoPlaces[0].Region,
	gcp: "emulate", gcpProject: "fusionize-local", gcpRegion: demoPlaces[1].Region,
}

// demoPlatforms names the emulated platforms strat deploys to.
func demoPlatforms(strat optimize.Strategy) string {
	if strat.Name() == "paper" {
		return "emulated AWS Lambda us-east-1"
	}
	return "emulated AWS Lambda us-east-1 and emulated Cloud Functions us-east4"
}

func (f *loopFlags) newStrategy(prices *cost.Prices) (optimize.Strategy, error) {
	switch f.strategy {
	case "model":
		return optimize.NewModel(optimize.ModelConfig{Places: demoPlaces, InitialMemoryMB: 512, Seed: 1, Prices: prices}), nil
	case "paper":
		return optimize.NewPaper(), nil
	}
	return nil, fmt.Errorf("unknown strategy %q (want model or paper)", f.strategy)
}

func newDemoCmd() *cobra.Command {
	var lf loopFlags
	var rttFile string
	cmd := &cobra.Command{
		Use:   "demo <app-dir>",
		Short: "Watch the feedback loop optimize an app on emulated AWS Lambda and Cloud Functions, locally",
		Long: `Builds the app, starts a control plane, the Lambda emulator (emulated AWS
Lambda, us-east-1) and the Cloud Functions and Cloud Tasks emulators
(emulated Cloud Functions, us-east4) in this process, as 'fusionize serve
--aws emulate --gcp emulate' does, and deploys through the aws and gcp
adapters with the real SDK clients: every group is a function on an
emulated platform, with its own execution environments (processes with the
CPU and memory of their memory size), cold starts and billing reports. It
drives load and runs the feedback loop until it converges: observe,
propose, deploy with a live switch, observe again, keep or roll back by a
statistical test. Prints the iteration table, writes an HTML report with
charts and the final groups, and removes every function, environment and
emulator at the end (also on Ctrl-C). Every platform figure is emulated.

With --watch it then keeps serving and measuring the converged setup and
re-places it when the --prices file changes or a window drifts (edit the
--rtt file to change a round trip between places under it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd, args[0], lf, rttFile)
		},
	}
	lf.register(cmd, demoDefaults)
	cmd.Flags().StringVar(&lf.capture, "capture", "", "write every measured window (setup, spans, platform reports) as JSON into this directory")
	cmd.Flags().StringVar(&rttFile, "rtt", "", rttUsage)
	return cmd
}

func runDemo(cmd *cobra.Command, appDir string, lf loopFlags, rttFile string) error {
	w := cmd.OutOrStdout()
	start := time.Now()
	app, err := manifest.Load(appDir)
	if err != nil {
		return err
	}
	pf, prices, err := lf.loadPrices()
	if err != nil {
		return err
	}
	strat, err := lf.newStrategy(prices)
	if err != nil {
		return err
	}
	ea, err := startEmulatedApp(cmd, app, "demo-"+app.Name, rttFile)
	if err != nil {
		return err
	}
	defer ea.close()
	runCtx, cli, inv, dep, data := ea.ctx, ea.cli, ea.inv, ea.dep, ea.data
	env := &billingEnv{ClientEnv: &loop.ClientEnv{CP: cli, Invoker: inv, Task: app.Entry, Input: []byte(app.Input), Concurrency: lf.concurrency, Wait: dep.Wait},
		app: app.Name, clouds: ea.clouds, captureDir: lf.capture}
	initial, _, err := strat.Propose(runCtx, optimize.Input{App: optimize.AppOf(app)})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "optimizing %s with the %s strategy on %s (objective: %s)\n\n",
		app.Name, strat.Name(), demoPlatforms(strat), objective(app.Objective))
	opts := loop.Options{
		App: app, Strategy: strat, Prices: prices, Requests: lf.requests, MaxIterations: lf.max, Progress: progressPrinter(w),
		Warmup: 3 * lf.concurrency, // every instance the window needs is warm
	}
	res, err := loop.Run(runCtx, env, initial, opts)
	if err != nil {
		return err
	}
	reportCtx := runCtx
	var watched *loop.WatchResult
	if lf.watch > 0 {
		wres, err := watchServing(runCtx, w, env, &res, opts, lf, pf)
		if err != nil {
			return err
		}
		watched = &wres
		// After Ctrl-C the report is still written.
		c, cancel := context.WithTimeout(context.WithoutCancel(runCtx), 30*time.Second)
		defer cancel()
		reportCtx = c
	}
	fmt.Fprintln(w)
	printIterations(w, res.Iterations)
	fmt.Fprintf(w, "\nafter %d deployments in %s: %s\nfinal setup: %s\n", res.Deployments, time.Since(start).Round(time.Second), res.Verdict, describeSetup(res.Best))
	if final := lastMeasured(res.Iterations, res.Best); final != nil && final.Predicted != nil {
		pred, errs := predictionColumns(final)
		fmt.Fprintf(w, "final setup: measured p50 %.1f ms, p95 %.1f ms, $%.2f/M; predicted %s; error %s\n", final.P50Ms, final.P95Ms, final.CostPerMillionUSD, pred, errs)
	}
	if first, last := firstMeasured(res.Iterations), bestMeasured(res.Iterations); first != nil && last != nil {
		fmt.Fprintf(w, "median latency %.1f → %.1f ms (%+.1f%%), cost per million requests $%.2f → $%.2f (%+.1f%%)  [emulated AWS Lambda / emulated Cloud Functions]\n",
			first.P50Ms, last.P50Ms, pct(first.P50Ms, last.P50Ms), first.CostPerMillionUSD, last.CostPerMillionUSD, pct(first.CostPerMillionUSD, last.CostPerMillionUSD))
	}
	if watched != nil {
		printWatch(w, *watched)
	}
	path := filepath.Join(data, "report.html")
	if err := writeReport(reportCtx, cli, path, app, strat.Name(), res); err != nil {
		return err
	}
	fmt.Fprintf(w, "report: %s\n", path)
	return nil
}

// emulatedApp is an app built and served in this process on the emulated
// clouds, as demo and sweep run it: a control plane, the Lambda, Cloud
// Functions and Cloud Tasks emulators, the aws and gcp adapters, a deployer
// and the app's modules uploaded.
type emulatedApp struct {
	ctx  context.Context // cancelled by close; use it for everything on the app
	data string          // the data directory
	cp   *server.ControlPlane
	cli  *client.Client
	inv  *invoke.Invoker
	dep  *deploy.Deployer
	// clouds holds the emulators, whose platform reports the loop reads.
	clouds *clouds
	close  func()
}

// startEmulatedApp builds app and starts its world under the data
// directory <data-dir>/<name>, removing what a previous run left there;
// rttFile is the emulators' --rtt table, followed while they run.
// close deletes every function, environment and emulator, then stops the
// control plane.
func startEmulatedApp(cmd *cobra.Command, app *manifest.App, name, rttFile string) (*emulatedApp, error) {
	ctx := cmd.Context()
	w := cmd.OutOrStdout()
	results, err := buildApp(cmd, app, build.Options{}, w)
	if err != nil {
		return nil, err
	}
	data, err := filepath.Abs(filepath.Join(g.dataDir, name))
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(data); err != nil {
		return nil, err
	}
	log := logger()
	shared, err := filepath.Abs(g.dataDir)
	if err != nil {
		return nil, err
	}
	cp, err := server.New(server.Options{DataDir: data, App: app.Name, Tasks: app.TaskNames(), Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		ModuleCacheDir: filepath.Join(shared, "cache"), Logger: log})
	if err != nil {
		return nil, err
	}
	// The clouds, as `serve --aws emulate --gcp emulate` starts them.
	ads := adapters.Adapters{}
	cf := demoClouds
	cf.rtt = rttFile
	cl, err := cf.start(ctx, w, ads, log)
	if err != nil {
		return nil, errors.Join(err, cp.Close())
	}
	dep := deploy.New(cp.Store(), ads, deploy.Options{App: app.Name, ControlPlane: cp.Addr(), Token: cp.Token(), Grace: 300 * time.Millisecond, Logger: log,
		Prepare: deploy.FusedModules(app, cp.Store(), deploy.FusedOptions{Check: host.CheckOptions{CacheDir: filepath.Join(shared, "cache")}})})
	// Shutdown order: stop deploying, delete the functions and stop the
	// emulators (their environments flush their last spans to the control
	// plane), then stop the control plane.
	runCtx, cancel := context.WithCancel(ctx)
	cpCtx, stopCP := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = cp.Serve(cpCtx) }()
	go func() { defer wg.Done(); _ = dep.Run(runCtx) }()
	ea := &emulatedApp{ctx: runCtx, data: data, cp: cp, dep: dep, clouds: cl}
	var closers []func() error
	ea.close = func() {
		for _, c := range slices.Backward(closers) {
			_ = c()
		}
		cancel()
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if err := cl.close(cctx); err != nil {
			fmt.Fprintln(stderr, "removing functions and emulators:", err)
		} else {
			fmt.Fprintln(w, "removed every function, execution environment and emulator")
		}
		stopCP()
		wg.Wait()
	}
	fmt.Fprintf(w, "control plane: grpc %s, REST http://%s (data %s)\n", cp.Addr(), cp.HTTPAddr(), data)
	cli, err := client.Dial(runCtx, cp.Addr(), cp.Token())
	if err != nil {
		ea.close()
		return nil, err
	}
	closers = append(closers, cli.Close)
	for _, r := range results {
		if _, err := cli.UploadModuleFile(runCtx, r.Task, r.Module); err != nil {
			ea.close()
			return nil, err
		}
	}
	ea.cli = cli
	ea.inv = invoke.New(cli, invoke.WithInvokeToken(cp.InvokeToken()))
	closers = append(closers, ea.inv.Close)
	return ea, nil
}

func objective(o manifest.Objective) string {
	if o.LatencyBoundMs > 0 {
		return fmt.Sprintf("least cost with %s latency ≤ %.0f ms", o.Latency, o.LatencyBoundMs)
	}
	return fmt.Sprintf("%.3g × %s latency (ms) + %.3g × cost ($/M requests)", o.LatencyWeight, o.Latency, o.CostWeight)
}

func pct(a, b float64) float64 {
	if a == 0 {
		return 0
	}
	return (b - a) / a * 100
}

func firstMeasured(its []api.Iteration) *api.Iteration {
	for i := range its {
		if its[i].Measured() {
			return &its[i]
		}
	}
	return nil
}

// lastMeasured is the last measured iteration of setup s (by partition,
// memory and place) that carries a prediction, else the last measured one.
func lastMeasured(its []api.Iteration, s *setup.Setup) *api.Iteration {
	if s == nil {
		return nil
	}
	var last *api.Iteration
	for i := range its {
		it := &its[i]
		if it.Measured() && it.Setup != nil && optimize.Key(it.Setup) == optimize.Key(s) && (last == nil || it.Predicted != nil || last.Predicted == nil) {
			last = it
		}
	}
	return last
}

// bestMeasured is the last iteration that was kept (or the baseline).
func bestMeasured(its []api.Iteration) *api.Iteration {
	var best *api.Iteration
	for i := range its {
		if its[i].Measured() && its[i].Kept() {
			best = &its[i]
		}
	}
	return best
}

// progressPrinter prints the loop's events; the request counter redraws in
// place on a terminal.
func progressPrinter(w io.Writer) func(loop.Event) {
	tty := isTerminal(w)
	lastPct := -1
	return func(e loop.Event) {
		switch e.Kind {
		case loop.EventDeploying:
			fmt.Fprintf(w, "deploying  %s  %s\n", describeSetup(e.Setup), shortNote(e.Note))
			lastPct = -1
		case loop.EventDriving:
			p := e.Done * 100 / max(e.Total, 1)
			if tty {
				bar := strings.Repeat("█", p/4) + strings.Repeat("░", 25-p/4)
				fmt.Fprintf(w, "\r  load     %s %3d/%d requests", bar, e.Done, e.Total)
				if e.Failed > 0 {
					fmt.Fprintf(w, " (%d failed)", e.Failed)
				}
				if e.Done == e.Total {
					fmt.Fprintln(w)
				}
			} else if p/25 != lastPct/25 || e.Done == e.Total {
				fmt.Fprintf(w, "  load     %d/%d requests", e.Done, e.Total)
				if e.Failed > 0 {
					fmt.Fprintf(w, " (%d failed)", e.Failed)
				}
				fmt.Fprintln(w)
			}
			lastPct = p
		case loop.EventObserved:
			it := e.Iteration
			if it.Decision == api.DecisionFailed {
				fmt.Fprintf(w, "  #%d failed: %s\n", it.Index, it.Note)
				return
			}
			fmt.Fprintf(w, "  #%d p50 %.1f ms  p95 %.1f ms  $%.2f/M  → %s\n", it.Index, it.P50Ms, it.P95Ms, it.CostPerMillionUSD, it.Decision)
			if it.Predicted != nil {
				pred, errs := predictionColumns(it)
				fmt.Fprintf(w, "     predicted %s, error %s\n", pred, errs)
			}
			if missed, why := it.Missed(); missed {
				fmt.Fprintf(w, "     missed: %s; refitting\n", why)
			}
		case loop.EventConverged:
			fmt.Fprintf(w, "%s\n", e.Note)
		}
	}
}

// describeSetup prints a setup's groups with memory and provider.
func describeSetup(s *setup.Setup) string {
	c := s.Clone()
	c.Normalize(false)
	parts := make([]string, len(c.Groups))
	for i, gr := range c.Groups {
		p := gr.Place.Provider
		if p == "" {
			p = "local"
		}
		parts[i] = fmt.Sprintf("(%s)%s%d@%s", strings.Join(gr.Tasks, ","), fusionMark(gr), gr.MemoryMB, p)
	}
	return strings.Join(parts, " ")
}

// fusionMark marks a module-fused group where a setup is printed:
// "(I,CW,CS)[module]256@aws"; instance fusion, the default, is unmarked.
func fusionMark(gr setup.Group) string {
	if gr.ModuleFused() {
		return "[module]"
	}
	return ""
}

// shortNote keeps a strategy's explanation to one short clause: the model's
// prediction, or the paper's step.
func shortNote(note string) string {
	switch {
	case note == "":
		return "(initial setup)"
	case strings.Contains(note, "(predicted"):
		return note[strings.Index(note, "(predicted"):]
	case len(note) > 100:
		return "(" + note[:97] + "...)"
	}
	return "(" + note + ")"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func printIterations(w io.Writer, its []api.Iteration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tDECISION\tGROUPS\tMEMORY (MB)\tP50 ms\tP95 ms\t$/M REQ\tPREDICTED P50 / P95 / $/M\tERROR P50 / P95 / $/M")
	for _, it := range its {
		part, mem := "", ""
		if it.Setup != nil {
			part = it.Setup.Partition()
			var ms []string
			for _, gr := range it.Setup.Groups {
				p := gr.Place.Provider
				if p == "" {
					p = "local"
				}
				ms = append(ms, fmt.Sprintf("%s%d@%s", fusionMark(gr), gr.MemoryMB, p))
			}
			mem = strings.Join(ms, " ")
		}
		pred, errs := predictionColumns(&it)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.1f\t%.1f\t%.2f\t%s\t%s\n", it.Index, it.Decision, part, mem, it.P50Ms, it.P95Ms, it.CostPerMillionUSD, pred, errs)
	}
	_ = tw.Flush()
}

// predictionColumns formats an iteration's prediction and the measurement's
// error against it ("-" when nothing was predicted).
func predictionColumns(it *api.Iteration) (pred, errs string) {
	p := it.Predicted
	if p == nil {
		return "-", "-"
	}
	pred = fmt.Sprintf("%.1f / %.1f / %.2f (±%.0f%%)", p.P50Ms, p.P95Ms, p.CostPerMillionUSD, p.Confidence*100)
	if !it.Measured() {
		return pred, "-"
	}
	var e []string
	for _, f := range [][2]float64{{p.P50Ms, it.P50Ms}, {p.P95Ms, it.P95Ms}, {p.CostPerMillionUSD, it.CostPerMillionUSD}} {
		if v, ok := api.ErrorPct(f[0], f[1]); ok {
			e = append(e, fmt.Sprintf("%+.0f%%", v))
		} else {
			e = append(e, "-")
		}
	}
	return pred, strings.Join(e, " / ")
}

func writeReport(ctx context.Context, cli *client.Client, path string, app *manifest.App, strategy string, res loop.Result) error {
	var edges []report.Edge
	if res.Best != nil {
		// The call graph does not depend on the setup: take the newest spans
		// of any version (the final one may be a rollback with no traffic).
		spans, err := cli.AllSpans(ctx, 0)
		if err != nil {
			return err
		}
		seen := map[report.Edge]bool{}
		for _, s := range spans {
			if s.Caller == "" {
				continue
			}
			e := report.Edge{Caller: s.Caller, Callee: s.Task, Async: s.Async}
			if !seen[e] {
				seen[e] = true
				edges = append(edges, e)
			}
		}
		sort.Slice(edges, func(i, j int) bool { return edges[i].Caller+edges[i].Callee < edges[j].Caller+edges[j].Callee })
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = report.Write(f, report.Data{
		App: app.Name, Strategy: strategy, Iterations: res.Iterations, Final: res.Best, Edges: edges,
		Profile: "emulated AWS Lambda us-east-1 and emulated Cloud Functions us-east4 (the emulators in emulators/)",
		Note:    "Latency: end-to-end duration of the entry task's span per request in each observation window, on functions deployed to the Lambda and Cloud Functions emulators (execution environments are processes on this machine with the CPU and memory of their memory size). Cost: the list prices applied to the billed durations and memory sizes the emulated platforms reported per invocation (REPORT records). Predicted: what the strategy forecast before deploying the setup, with its confidence; error = (measured − predicted) / predicted. Every platform figure is emulated, not measured on a cloud.",
		Verdict: res.Verdict,
	})
	return errors.Join(err, f.Close())
}

func newOptimizeCmd() *cobra.Command {
	var cf cpFlags
	var lf loopFlags
	var until bool
	cmd := &cobra.Command{
		Use:   "optimize <app-dir>",
		Short: "Run the feedback loop against the app started with 'fusionize up' (one iteration, or until converged)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			w := cmd.OutOrStdout()
			app, err := manifest.Load(args[0])
			if err != nil {
				return err
			}
			pf, prices, err := lf.loadPrices()
			if err != nil {
				return err
			}
			strat, err := lf.newStrategy(prices)
			if err != nil {
				return err
			}
			cli, err := cf.dial(ctx)
			if err != nil {
				return err
			}
			defer cli.Close()
			st, err := cli.Status(ctx)
			if err != nil {
				return err
			}
			if st.ActiveVersion == 0 {
				return errors.New("no active setup: run 'fusionize up <app>' first")
			}
			cur, err := cli.Setup(ctx, st.ActiveVersion)
			if err != nil {
				return err
			}
			inv, err := cf.invoker(cli)
			if err != nil {
				return err
			}
			defer inv.Close()
			env := &loop.ClientEnv{CP: cli, Invoker: inv, Task: app.Entry, Input: []byte(app.Input), Concurrency: lf.concurrency}
			maxDeploy := lf.max
			if !until && lf.watch == 0 {
				maxDeploy = 1
			}
			opts := loop.Options{
				App: app, Strategy: strat, Prices: prices, Requests: lf.requests, MaxIterations: maxDeploy,
				InitialVersion: cur.Version, Progress: progressPrinter(w), Warmup: 3 * lf.concurrency,
			}
			res, err := loop.Run(ctx, env, cur, opts)
			if err != nil {
				return err
			}
			var watched *loop.WatchResult
			if lf.watch > 0 {
				wres, err := watchServing(ctx, w, env, &res, opts, lf, pf)
				if err != nil {
					return err
				}
				watched = &wres
			}
			fmt.Fprintln(w)
			printIterations(w, res.Iterations)
			if watched != nil {
				printWatch(w, *watched)
			}
			return nil
		},
	}
	cf.register(cmd)
	cf.registerInvokeToken(cmd)
	lf.register(cmd, optimizeDefaults)
	cmd.Flags().BoolVar(&until, "until-converged", false, "iterate until the strategy converges (implied by --watch)")
	return cmd
}

func newHistoryCmd() *cobra.Command {
	var cf cpFlags
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Print the optimizer's iterations: setup, p50 and p95 latency, cost per million requests",
		Args:  cobra.NoArgs,
		RunE: cf.withClient(func(ctx context.Context, cmd *cobra.Command, _ []string, cli *client.Client) error {
			its, err := cli.Iterations(ctx)
			if err != nil {
				return err
			}
			if len(its) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no iterations yet: run 'fusionize optimize <app>'")
				return nil
			}
			printIterations(cmd.OutOrStdout(), its)
			return nil
		}),
	}
	cf.register(cmd)
	return cmd
}
