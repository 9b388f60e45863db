// Task CA (CheckAir) of the IoT app: rates the air quality, asks DJ (sync)
// whether traffic is jammed and, if the air is poor or traffic jammed, asks
// the signage (AS, async) to show a warning. Called async by I.
package main

import (
	"encoding/json"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type input struct {
	SensorID string `json:"sensorId"`
	Location string `json:"location"`
	Air      struct {
		PM25 float64 `json:"pm25"`
		NO2  float64 `json:"no2"`
		CO2  float64 `json:"co2"`
	} `json:"air"`
	Vehicles []int `json:"vehicles"`
}

type jam struct {
	Jam     bool    `json:"jam"`
	Average float64 `json:"average"`
}

type result struct {
	Index int    `json:"index"` // 1 good … 5 very poor
	Jam   bool   `json:"jam"`
	Sign  string `json:"sign,omitempty"`
}

func init() {
	task.HandleJSON(func(in input) (result, error) {
		// Index bands after the European Air Quality Index (PM2.5 and NO2).
		r := result{Index: max(band(in.Air.PM25, 10, 20, 25, 50), band(in.Air.NO2, 40, 90, 120, 230))}
		j, err := task.CallJSON[jam]("DJ", map[string]any{"sensorId": in.SensorID, "vehicles": in.Vehicles})
		if err != nil {
			return r, err
		}
		r.Jam = j.Jam
		switch {
		case r.Jam && r.Index >= 4:
			r.Sign = "CONGESTION AND POOR AIR: use public transport"
		case r.Jam:
			r.Sign = fmt.Sprintf("CONGESTION (%.0f vehicles/min): use alternative route", j.Average)
		case r.Index >= 4:
			r.Sign = "POOR AIR QUALITY: avoid outdoor exercise"
		}
		b, _ := json.Marshal(r)
		if err := task.Put("air/"+in.SensorID, b); err != nil {
			return r, err
		}
		if r.Sign != "" {
			if err := task.CallAsyncJSON("AS", map[string]string{"location": in.Location, "message": r.Sign}); err != nil {
				return r, err
			}
		}
		return r, nil
	})
}

// band returns 1..5: the first of the upper bounds v stays within, else 5.
func band(v float64, bounds ...float64) int {
	for i, b := range bounds {
		if v <= b {
			return i + 1
		}
	}
	return len(bounds) + 1
}

func main() {}
