package loop

import (
	"context"
	"fmt"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/fuser/analytics"
)

// Measured is one setup deployed and measured over a window of requests,
// as the loop measures each of its iterations.
type Measured struct {
	Setup          *setup.Setup // with the version it was deployed as
	P50, P95       time.Duration
	CostPerMillion float64 // $ per million requests, from the window's spans
	Requests       int     // requests in the window
	Failed         int     // of Requests
	FirstFailure   error   // the first failed request's error, when the Env says (Failer)
	Report         *analytics.Report
}

// Measure deploys s through env, drives opts.Warmup requests, then a window
// of opts.Requests, and measures the window as Run measures an iteration.
// It records nothing in the history. opts.Strategy is not used.
func Measure(ctx context.Context, env Env, s *setup.Setup, opts Options) (Measured, error) {
	opts.defaults()
	if opts.App == nil {
		return Measured{}, fmt.Errorf("loop: Options.App is required")
	}
	c := s.Clone()
	v, err := env.Apply(ctx, c)
	if err != nil {
		return Measured{}, fmt.Errorf("loop: deploy %s: %w", c.Partition(), err)
	}
	c.Version = v
	obs, err := observe(ctx, env, c, opts)
	if err != nil {
		return Measured{}, err
	}
	return Measured{Setup: c, P50: obs.p50, P95: obs.p95, CostPerMillion: obs.perM,
		Requests: opts.Requests, Failed: obs.failed, FirstFailure: obs.firstErr, Report: obs.report}, nil
}
