package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/loop"
	"github.com/fusionize/fusionize/fuser/report"
	"github.com/fusionize/fusionize/fuser/sweep"
)

func init() {
	extraCommands = append(extraCommands, newSweepCmd)
}

// sweepFlags are the flags of `fusionize sweep`.
type sweepFlags struct {
	max, requests, concurrency int
	memories                   []int
	providers                  []string
	seed                       uint64
	capture                    string
}

func newSweepCmd() *cobra.Command {
	var f sweepFlags
	cmd := &cobra.Command{
		Use:   "sweep <app-dir>",
		Short: "Measure many setups of an app on emulated AWS Lambda and Cloud Functions and print the measured Pareto front of latency against cost",
		Long: `Builds the app and starts the same world as 'fusionize demo' (a control
plane, the Lambda, Cloud Functions and Cloud Tasks emulators, the aws and
gcp adapters) in this process, then deploys candidate setups one after the
other with live switches and measures each over a window of requests.

The candidates are the setups whose groups are connected in the app's call
graph (learned from the first measurement, every task alone), each with
one memory size (--memory) and one place (--place) for all its groups. If
there are at most --max of them, every one is measured; otherwise every
task alone and all fused in each place, a seeded sample, and the setups the
model strategy proposes after learning from the sample.

Prints every measured setup, marks the Pareto front of latency (the app
objective's percentile) against cost per million requests and the best
setup under the objective, and writes an HTML page with the chart. Every
platform figure is emulated.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSweep(cmd, args[0], f)
		},
	}
	cmd.Flags().IntVar(&f.max, "max", 24, "most setups to measure")
	cmd.Flags().IntVar(&f.requests, "requests", 24, "requests per measurement window")
	cmd.Flags().IntVar(&f.concurrency, "concurrency", 4, "requests in flight while measuring")
	cmd.Flags().IntSliceVar(&f.memories, "memory", []int{256, 512, 1024}, "memory sizes (MB) to try")
	cmd.Flags().StringSliceVar(&f.providers, "place", []string{"aws", "gcp"}, "platforms to try: aws (emulated Lambda us-east-1), gcp (emulated Cloud Functions us-east4)")
	cmd.Flags().Uint64Var(&f.seed, "seed", 1, "seed of the sample")
	cmd.Flags().StringVar(&f.capture, "capture", "", "write every measured window (setup, spans, platform reports) as JSON into this directory")
	return cmd
}

// places returns the demo places of the named providers.
func (f *sweepFlags) places() ([]setup.Place, error) {
	var out []setup.Place
	for _, name := range f.providers {
		i := slices.IndexFunc(demoPlaces, func(p setup.Place) bool { return p.Provider == name })
		if i < 0 {
			return nil, fmt.Errorf("--place %q: want aws or gcp", name)
		}
		out = append(out, demoPlaces[i])
	}
	if len(out) == 0 {
		return nil, errors.New("--place: name at least one of aws, gcp")
	}
	return out, nil
}

func runSweep(cmd *cobra.Command, appDir string, f sweepFlags) error {
	w := cmd.OutOrStdout()
	start := time.Now()
	places, err := f.places()
	if err != nil {
		return err
	}
	if f.max < 1 || f.requests < 1 || f.concurrency < 1 {
		return fmt.Errorf("--max %d, --requests %d, --concurrency %d: each must be at least 1", f.max, f.requests, f.concurrency)
	}
	app, err := manifest.Load(appDir)
	if err != nil {
		return err
	}
	ea, err := startEmulatedApp(cmd, app, "sweep-"+app.Name, "")
	if err != nil {
		return err
	}
	defer ea.close()
	env := &billingEnv{ClientEnv: &loop.ClientEnv{CP: ea.cli, Invoker: ea.inv, Task: app.Entry, Input: []byte(app.Input), Concurrency: f.concurrency, Wait: ea.dep.Wait},
		app: app.Name, clouds: ea.clouds, captureDir: f.capture}
	fmt.Fprintf(w, "sweeping %s on %s (objective: %s)\n\n", app.Name, placesLabel(places), objective(app.Objective))
	res, err := sweep.Run(ea.ctx, env, sweep.Options{
		App: app, Places: places, MemoriesMB: f.memories, Max: f.max, Seed: f.seed,
		Requests: f.requests, Warmup: 3 * f.concurrency,
		Progress: func(e sweep.Event) {
			if e.Point == nil {
				fmt.Fprintf(w, "[%d/%d] %s\n", e.N, e.Of, describeSetup(e.Setup))
				return
			}
			if p := e.Point; p.Usable() {
				fmt.Fprintf(w, "       p50 %.1f ms  p95 %.1f ms  $%.2f/M\n", p.P50Ms, p.P95Ms, p.CostPerMillion)
			} else {
				fmt.Fprintf(w, "       not comparable: %s\n", p.WhyNot())
			}
		},
	})
	if len(res.Points) > 0 {
		fmt.Fprintln(w)
		printSweep(w, app, res)
		path := filepath.Join(ea.data, "sweep.html")
		if werr := writeSweepReport(path, app, places, res); werr != nil {
			err = errors.Join(err, werr)
		} else {
			fmt.Fprintf(w, "report: %s\n", path)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "measured %d of %d candidate setups in %s\n", len(res.Points), res.Space, time.Since(start).Round(time.Second))
	return nil
}

func placesLabel(places []setup.Place) string {
	var names []string
	for _, p := range places {
		switch p.Provider {
		case "aws":
			names = append(names, "emulated AWS Lambda "+p.Region)
		case "gcp":
			names = append(names, "emulated Cloud Functions "+p.Region)
		}
	}
	return strings.Join(names, " and ")
}

// printSweep prints every measured setup, the front and the best.
func printSweep(w io.Writer, app *manifest.App, res sweep.Result) {
	pct := app.Objective.Latency
	front := map[int]bool{}
	for _, i := range res.Front {
		front[i] = true
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSOURCE\tSETUP\tP50 ms\tP95 ms\t$/M REQ\t")
	for i := range res.Points {
		p := &res.Points[i]
		mark := ""
		switch {
		case i == res.Best:
			mark = "best"
		case front[i]:
			mark = "front"
		}
		if !p.Usable() {
			fmt.Fprintf(tw, "%d\t%s\t%s\t-\t-\t-\t%s\n", i, p.Source, describeSetup(p.Setup), p.WhyNot())
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f\t%.1f\t%.2f\t%s\n", i, p.Source, describeSetup(p.Setup), p.P50Ms, p.P95Ms, p.CostPerMillion, mark)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nmeasured Pareto front (%s latency against cost), fastest first  [emulated AWS Lambda / emulated Cloud Functions]:\n", pct)
	for _, i := range res.Front {
		p := &res.Points[i]
		fmt.Fprintf(w, "  %7.1f ms  $%7.2f/M  %s\n", p.Latency(pct), p.CostPerMillion, describeSetup(p.Setup))
	}
	switch {
	case res.Best < 0:
		fmt.Fprintln(w, "no setup could be measured without failed requests")
	case !res.Points[res.Best].MeetsBound:
		fmt.Fprintf(w, "no measured setup meets the bound (%s ≤ %.0f ms); the fastest is %s\n", pct, app.Objective.LatencyBoundMs, describeSetup(res.Points[res.Best].Setup))
	default:
		fmt.Fprintf(w, "best under the objective: %s\n", describeSetup(res.Points[res.Best].Setup))
	}
	if res.ModelChoice >= 0 {
		fmt.Fprintf(w, "the model strategy, learning from these measurements, chooses #%d: %s\n", res.ModelChoice, describeSetup(res.Points[res.ModelChoice].Setup))
	}
	if !res.Exhaustive {
		fmt.Fprintf(w, "(a sample: %d of %d candidates; raise --max to measure more)\n", len(res.Points), res.Space)
	}
}

func writeSweepReport(path string, app *manifest.App, places []setup.Place, res sweep.Result) error {
	d := report.SweepData{
		App: app.Name, Percentile: app.Objective.Latency, Objective: objective(app.Objective),
		Profile: placesLabel(places),
		Note: fmt.Sprintf("Each setup was deployed with a live switch to the emulators in emulators/ and measured over one window of requests: latency is the entry task's span duration per request, cost the price model applied to the billed durations. %d of %d candidate setups measured. Every platform figure is emulated, not measured on a cloud.",
			len(res.Points), res.Space),
	}
	front := map[int]bool{}
	for _, i := range res.Front {
		front[i] = true
	}
	for i := range res.Points {
		p := &res.Points[i]
		sp := report.SweepPoint{Setup: describeSetup(p.Setup), Source: p.Source, LatencyMs: p.Latency(app.Objective.Latency),
			CostPerMillion: p.CostPerMillion, Front: front[i], Best: i == res.Best}
		if !p.Usable() {
			sp.Failed = p.WhyNot()
		}
		d.Points = append(d.Points, sp)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = report.WriteSweep(f, d)
	return errors.Join(err, f.Close())
}
