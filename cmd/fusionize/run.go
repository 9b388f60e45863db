package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fusionize/fusionize/api/manifest"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/guest-sdk/build"
	"github.com/fusionize/fusionize/host"
)

func newRunCmd() *cobra.Command {
	var input string
	var n int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "run <app-dir>",
		Short: "Run an app once in one host with every task fused, and print the result and the spans",
		Long: `Builds the app if needed, loads every task into one host (one fusion group),
invokes the entry task with --input (default: the manifest's input) and prints
the result and the span of every task invocation, async ones included. Each
invocation runs under --timeout; a task stopped by it is named in the error
(a sync callee that ran out of time, not its caller).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := manifest.Load(args[0])
			if err != nil {
				return err
			}
			if _, err := buildApp(cmd, app, build.Options{}, io.Discard); err != nil {
				return err
			}
			if !cmd.Flags().Changed("input") {
				input = app.Input
			}
			return runFused(cmd.Context(), cmd.OutOrStdout(), app, []byte(input), n, timeout)
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "request body for the entry task (default: the manifest's input)")
	cmd.Flags().IntVar(&n, "n", 1, "invoke this many times; spans are printed for the last one")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "deadline of each invocation")
	return cmd
}

func logger() *slog.Logger {
	if g.verbose {
		return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func runFused(ctx context.Context, w io.Writer, app *manifest.App, input []byte, n int, timeout time.Duration) error {
	rec := span.NewBuffer(1 << 16)
	start := time.Now()
	h, err := host.New(ctx, host.Config{
		Name: "local", Group: app.Name, App: app.Name,
		CacheDir: filepath.Join(g.dataDir, "cache"),
		Recorder: rec, Logger: logger(), Timeout: timeout,
	})
	if err != nil {
		return err
	}
	if err := h.LoadApp(ctx, app, nil, nil); err != nil {
		_ = h.Close(ctx)
		return err
	}
	fmt.Fprintf(w, "loaded %d tasks of %s in %s\n", len(app.Tasks), app.Name, time.Since(start).Round(time.Millisecond))
	var out []byte
	var lat time.Duration
	for i := range max(n, 1) {
		if i == max(n, 1)-1 {
			rec.Drain()
		}
		t0 := time.Now()
		out, err = h.Invoke(ctx, app.Entry, input)
		lat = time.Since(t0)
		if err != nil {
			break
		}
	}
	// Close drains the async calls, so their spans are complete.
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cerr := h.Close(closeCtx); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nresult (%s):\n%s\n\n", lat.Round(time.Microsecond), out)
	printSpans(w, rec.Drain())
	return nil
}

// printSpans prints spans as a call tree, children under their parents.
func printSpans(w io.Writer, spans []span.Span) {
	children := map[uint64][]span.Span{}
	var roots []span.Span
	ids := map[uint64]bool{}
	for _, s := range spans {
		ids[s.ID] = true
	}
	for _, s := range spans {
		if s.ParentID == 0 || !ids[s.ParentID] {
			roots = append(roots, s)
		} else {
			children[s.ParentID] = append(children[s.ParentID], s)
		}
	}
	for _, c := range children {
		sort.Slice(c, func(i, j int) bool { return c[i].Start.Before(c[j].Start) })
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tCALL\tWHERE\tSTART\tDURATION\tSELF\tCOLD\tERROR")
	var t0 time.Time
	if len(roots) > 0 {
		t0 = roots[0].Start
	}
	var walk func(s span.Span, depth int)
	walk = func(s span.Span, depth int) {
		kind := "sync"
		if s.Async {
			kind = "async"
		}
		if s.Caller == "" {
			kind = "entry"
		}
		where := "memory"
		if s.Remote {
			where = "remote"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t+%s\t%s\t%s\t%v\t%s\n", strings.Repeat("  ", depth), s.Task, kind, where,
			s.Start.Sub(t0).Round(time.Microsecond), s.Duration.Round(time.Microsecond), s.Self().Round(time.Microsecond), s.Cold, s.Err)
		for _, c := range children[s.ID] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	_ = tw.Flush()
}
