// Task DJ (DetectJam) of the IoT app: fits a trend to the vehicle counts of
// the last intervals; traffic is jammed when the recent mean is above 25
// vehicles per minute and rising. It records the mean in the key-value store
// for the traffic dashboard. Called sync by CA.
package main

import (
	"math"
	"strconv"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type input struct {
	SensorID string `json:"sensorId"`
	Vehicles []int  `json:"vehicles"`
}

type result struct {
	Jam     bool    `json:"jam"`
	Average float64 `json:"average"`
	Slope   float64 `json:"slope"`
}

func init() {
	task.HandleJSON(func(in input) (result, error) {
		var r result
		n := len(in.Vehicles)
		if n == 0 {
			return r, nil
		}
		recent := in.Vehicles[max(0, n-4):]
		for _, v := range recent {
			r.Average += float64(v) / float64(len(recent))
		}
		r.Slope = math.Round(1000*slope(in.Vehicles)) / 1000
		r.Jam = r.Average > 25 && r.Slope > 0
		err := task.Put("traffic/"+in.SensorID, strconv.AppendFloat(nil, r.Average, 'f', 2, 64))
		return r, err
	})
}

// slope is the least-squares slope of vs over their index.
func slope(vs []int) float64 {
	n := float64(len(vs))
	var sx, sy, sxy, sxx float64
	for i, v := range vs {
		x, y := float64(i), float64(v)
		sx, sy, sxy, sxx = sx+x, sy+y, sxy+x*y, sxx+x*x
	}
	if d := n*sxx - sx*sx; d != 0 {
		return (n*sxy - sx*sy) / d
	}
	return 0
}

func main() {}
