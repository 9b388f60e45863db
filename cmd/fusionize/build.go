package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/guest-sdk/build"
)

func newBuildCmd() *cobra.Command {
	var force bool
	var parallel int
	cmd := &cobra.Command{
		Use:   "build <app-dir>",
		Short: "Compile every task of an app to a Wasm module, in parallel",
		Long: `Compiles every task of the app in <app-dir> (its fusionize.yaml lists them):
Go tasks with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, WAT tasks
with wat2wasm, AssemblyScript tasks with the SDK's asc
(scripts/install-assemblyscript.sh installs it). Modules go to <app-dir>/build/<task>.wasm; up-to-date modules are
skipped unless --force.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := manifest.Load(args[0])
			if err != nil {
				return err
			}
			_, err = buildApp(cmd, app, build.Options{Force: force, Parallel: parallel}, cmd.OutOrStdout())
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "rebuild modules that are up to date")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "tasks built at once (default: the number of CPUs)")
	return cmd
}

// buildApp builds app's modules, printing one progress line per task to w.
func buildApp(cmd *cobra.Command, app *manifest.App, opts build.Options, w io.Writer) ([]build.Result, error) {
	start := time.Now()
	total := len(app.Tasks)
	done := 0
	opts.Progress = func(e build.Event) {
		switch e.Kind {
		case build.EventDone:
			done++
			verb := "built"
			if e.Result.Skipped {
				verb = "up to date"
			}
			fmt.Fprintf(w, "  [%2d/%d] %-12s %-10s %6.1f KiB  %s\n", done, total, e.Task, verb,
				float64(e.Result.Size)/1024, e.Result.Duration.Round(time.Millisecond))
		case build.EventFailed:
			done++
			fmt.Fprintf(w, "  [%2d/%d] %-12s FAILED\n", done, total, e.Task)
		}
	}
	fmt.Fprintf(w, "building %s: %d tasks\n", app.Name, total)
	res, err := build.Build(cmd.Context(), app, opts)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "built %s in %s\n", app.Name, time.Since(start).Round(time.Millisecond))
	return res, nil
}

var stderr io.Writer = os.Stderr
