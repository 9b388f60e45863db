// Command fusionize builds, runs, deploys and optimizes Fusionize
// applications: sets of WebAssembly tasks that a host fuses into groups.
//
//	fusionize new ~/hello                 # an app of one task that builds and runs at once
//	fusionize build examples/iot          # compile every task to Wasm
//	fusionize run examples/iot            # run it in one host, every task fused
//	fusionize demo examples/iot           # the feedback loop, locally
//
// Every flag can also come from the environment (FUSIONIZE_<FLAG>, dashes as
// underscores, e.g. FUSIONIZE_DATA_DIR) or from a config file (--config,
// default ./fusionize.config.yaml if present) holding `flag: value` lines.
// Flags win over the environment, which wins over the file.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fusionize:", err)
		os.Exit(1)
	}
}

// globals are the flags every command shares.
type globals struct {
	dataDir string
	config  string
	verbose bool
}

var g globals

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "fusionize",
		Short:         "Build, run and optimize serverless applications of WebAssembly tasks",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.dataDir, "data-dir", ".fusionize", "directory for the compilation cache, control-plane data and logs")
	pf.StringVar(&g.config, "config", "", "config `file` of \"flag: value\" lines (default ./fusionize.config.yaml if present)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log host and task events to stderr")
	root.AddCommand(newBuildCmd(), newRunCmd())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	return root
}

// extraCommands lets other files of this package register commands.
var extraCommands []func() *cobra.Command

// applyConfig fills flags that were not set on the command line from the
// environment, then from the config file.
func applyConfig(cmd *cobra.Command) error {
	file := map[string]string{}
	path := g.config
	if path == "" {
		if _, err := os.Stat("fusionize.config.yaml"); err == nil {
			path = "fusionize.config.yaml"
		}
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		var raw map[string]any
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		for k, v := range raw {
			file[k] = fmt.Sprint(v)
		}
	}
	var errs []error
	known := map[string]bool{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		known[f.Name] = true
		if f.Changed {
			return
		}
		env := "FUSIONIZE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %s: %w", path, f.Name, err))
			}
		}
	})
	for k := range file {
		if !known[k] && !knownAnywhere(cmd.Root(), k) {
			errs = append(errs, fmt.Errorf("config %s: unknown setting %q", path, k))
		}
	}
	return errors.Join(errs...)
}

// knownAnywhere reports whether any command defines flag name, so one config
// file can serve every command.
func knownAnywhere(c *cobra.Command, name string) bool {
	if c.Flags().Lookup(name) != nil || c.PersistentFlags().Lookup(name) != nil {
		return true
	}
	for _, sub := range c.Commands() {
		if knownAnywhere(sub, name) {
			return true
		}
	}
	return false
}
