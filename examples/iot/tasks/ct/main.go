// Task CT (CheckTemperature) of the IoT app: smooths the temperature series
// (denoising), records its statistics with a digest of the raw series and,
// when the smoothed maximum is above 30 °C, asks the signage (AS, async) to
// show a heat warning. Called async by I.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type input struct {
	SensorID    string    `json:"sensorId"`
	Location    string    `json:"location"`
	Temperature []float64 `json:"temperature"`
}

type stats struct {
	Mean   float64 `json:"mean"`
	Max    float64 `json:"max"`
	Heat   bool    `json:"heat"`
	Digest string  `json:"digest"`
}

const heatThreshold = 30.0 // °C

func init() {
	task.HandleJSON(func(in input) (stats, error) {
		s := smooth(in.Temperature, 2)
		st := stats{Max: math.Inf(-1)}
		for _, v := range s {
			st.Mean += v / float64(len(s))
			st.Max = max(st.Max, v)
		}
		st.Mean, st.Max = math.Round(100*st.Mean)/100, math.Round(100*st.Max)/100
		st.Heat = st.Max > heatThreshold
		raw, _ := json.Marshal(in.Temperature)
		sum := spin(raw, 300)
		st.Digest = fmt.Sprintf("%x", sum[:8])
		b, _ := json.Marshal(st)
		if err := task.Put("temperature/"+in.SensorID, b); err != nil {
			return st, err
		}
		if st.Heat {
			msg := fmt.Sprintf("HEAT WARNING %.1f °C: drink water", st.Max)
			if err := task.CallAsyncJSON("AS", map[string]string{"location": in.Location, "message": msg}); err != nil {
				return st, err
			}
		}
		return st, nil
	})
}

// smooth runs passes of a 3-point weighted moving average over vs.
func smooth(vs []float64, passes int) []float64 {
	a := append([]float64(nil), vs...)
	b := make([]float64, len(a))
	for range passes {
		for i := range a {
			l, r := a[max(i-1, 0)], a[min(i+1, len(a)-1)]
			b[i] = 0.25*l + 0.5*a[i] + 0.25*r
		}
		a, b = b, a
	}
	return a
}

// spin is CPU work: a chain of SHA-256 rounds over data.
func spin(data []byte, rounds int) [32]byte {
	s := sha256.Sum256(data)
	for range rounds - 1 {
		s = sha256.Sum256(s[:])
	}
	return s
}

func main() {}
