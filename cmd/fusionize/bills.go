package main

import (
	"context"
	"time"

	"github.com/fusionize/fusionize/adapters/aws"
	"github.com/fusionize/fusionize/adapters/gcp"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/cost"
	"github.com/fusionize/fusionize/fuser/loop"
)

// billingEnv is the loop's Env on the emulated clouds: a ClientEnv that
// also reads what the platforms reported for each invocation (the Lambda
// emulator's REPORT records, the Cloud Functions emulator's request
// reports), as the fuser would read CloudWatch and Cloud Logging.
type billingEnv struct {
	*loop.ClientEnv
	app    string
	clouds *clouds
	// captureDir, when set, receives every window measured (see capture).
	captureDir string
}

var (
	_ loop.Biller = (*billingEnv)(nil)
	_ loop.Queuer = (*billingEnv)(nil)
)

// Pending implements loop.Queuer: the Event invocations the Lambda
// emulator has accepted and not finished, and the Cloud Tasks emulator's
// undelivered tasks.
func (e *billingEnv) Pending(context.Context) (int, error) {
	n := 0
	if e.clouds.lambda != nil {
		n += e.clouds.lambda.PendingEvents()
	}
	if e.clouds.tasks != nil {
		n += e.clouds.tasks.Pending()
	}
	return n, nil
}

// Bills implements loop.Biller.
func (e *billingEnv) Bills(ctx context.Context, s *setup.Setup, since time.Time) ([]cost.Bill, error) {
	var out []cost.Bill
	for _, g := range s.Groups {
		switch g.Place.Provider {
		case aws.Provider:
			if e.clouds.lambda == nil {
				continue
			}
			for _, r := range e.clouds.lambda.Reports(aws.FunctionName(e.app, g.Name)) {
				start := r.Time.Add(-r.Duration - r.InitDuration)
				if start.Before(since) {
					continue
				}
				out = append(out, cost.Bill{Group: g.Name, Place: g.Place, Time: start, Duration: r.Duration, Billed: r.BilledDuration,
					Init: r.InitDuration, Cold: r.Cold, MemoryMB: r.MemorySizeMB, MaxMemoryMB: r.MaxMemoryUsed, Async: r.Async,
					Failed: r.Status != "success", Trace: r.TraceID, Stretch: r.Stretch, Wall: r.WallDuration})
			}
		case gcp.Provider:
			if e.clouds.gcf == nil {
				continue
			}
			for _, r := range e.clouds.gcf.Requests(gcp.FunctionName(e.app, g.Name, s.Version)) {
				if r.Start.Before(since) {
					continue
				}
				out = append(out, cost.Bill{Group: g.Name, Place: g.Place, Time: r.Start, Duration: r.Duration, Billed: r.Billed,
					Init: r.Init, Cold: r.Cold, MemoryMB: r.MemoryMB, MaxMemoryMB: r.MaxMemoryMB, Failed: r.Status >= 400,
					Trace: r.Trace, Stretch: r.Stretch, Wall: r.WallDuration})
			}
		}
	}
	if e.captureDir != "" {
		if _, err := capture(ctx, e.captureDir, e.app, s, since, e.ClientEnv.Spans, out, e.ClientEnv.Timed(s.Version)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
