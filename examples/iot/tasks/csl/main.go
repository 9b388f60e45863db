// Task CSL (CheckSoundLevel) of the IoT app: computes the equivalent
// continuous sound level (Leq, the energy mean of the dB samples) and the
// peak, and flags levels above the 70 dB limit. Called sync by CS, in
// parallel with CSA.
package main

import (
	"math"
	"time"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type input struct {
	Sound []float64 `json:"sound"`
}

type level struct {
	Leq      float64 `json:"leq"`
	Peak     float64 `json:"peak"`
	TooLoud  bool    `json:"tooLoud"`
	Segments int     `json:"segments"`
}

const limit = 70.0 // dB(A)

func init() {
	task.HandleJSON(func(in input) (level, error) {
		time.Sleep(2 * time.Millisecond) // stands in for fetching the calibration profile
		var l level
		var energy float64
		for _, db := range in.Sound {
			energy += math.Pow(10, db/10)
			l.Peak = max(l.Peak, db)
		}
		if len(in.Sound) > 0 {
			l.Leq = math.Round(100*10*math.Log10(energy/float64(len(in.Sound)))) / 100
		}
		l.TooLoud = l.Leq > limit
		l.Segments = len(in.Sound)
		return l, nil
	})
}

func main() {}
