// Task CSA (CheckSoundAnomaly) of the IoT app: finds samples that stand out
// from the series' median by more than 15 dB (horns, crashes) and scores the
// series with a correlation over all lags (CPU work). Called sync by CS, in
// parallel with CSL.
package main

import (
	"math"
	"slices"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type input struct {
	Sound []float64 `json:"sound"`
}

type anomaly struct {
	Median   float64 `json:"median"`
	Spikes   []int   `json:"spikes"`
	Periodic float64 `json:"periodicity"`
}

func init() {
	task.HandleJSON(func(in input) (anomaly, error) {
		a := anomaly{Spikes: []int{}}
		if len(in.Sound) == 0 {
			return a, nil
		}
		sorted := slices.Sorted(slices.Values(in.Sound))
		a.Median = sorted[len(sorted)/2]
		for i, v := range in.Sound {
			if v-a.Median > 15 {
				a.Spikes = append(a.Spikes, i)
			}
		}
		a.Periodic = math.Round(1000*periodicity(in.Sound, 300)) / 1000
		return a, nil
	})
}

// periodicity is the largest normalized autocorrelation over lags ≥ 2,
// recomputed passes times (CPU work).
func periodicity(x []float64, passes int) float64 {
	var best float64
	for range passes {
		best = 0
		for lag := 2; lag < len(x); lag++ {
			var num, den float64
			for i := range len(x) - lag {
				num += x[i] * x[i+lag]
				den += x[i] * x[i]
			}
			if den > 0 {
				best = max(best, num/den)
			}
		}
	}
	return best
}

func main() {}
