// Task CW (CheckSensor) of the IoT app: checks that a sensor's batch is
// plausible (values within the sensors' physical ranges, no empty series)
// and computes its checksum. Called sync by I.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type reading struct {
	SensorID    string    `json:"sensorId"`
	Temperature []float64 `json:"temperature"`
	Sound       []float64 `json:"sound"`
	Vehicles    []int     `json:"vehicles"`
}

type result struct {
	SensorID string   `json:"sensorId"`
	OK       bool     `json:"ok"`
	Issues   []string `json:"issues"`
	Checksum string   `json:"checksum"`
}

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		var r reading
		if err := json.Unmarshal(in, &r); err != nil {
			return nil, err
		}
		issues := []string{}
		issues = checkRange(issues, "temperature", r.Temperature, -40, 85)
		issues = checkRange(issues, "sound", r.Sound, 20, 140)
		for i, v := range r.Vehicles {
			if v < 0 || v > 500 {
				issues = append(issues, fmt.Sprintf("vehicles[%d]=%d out of range", i, v))
			}
		}
		if len(r.Vehicles) == 0 {
			issues = append(issues, "vehicles: no samples")
		}
		sum := spin(in, 300)
		return json.Marshal(result{SensorID: r.SensorID, OK: len(issues) == 0, Issues: issues, Checksum: fmt.Sprintf("%x", sum[:8])})
	})
}

func checkRange(issues []string, name string, vs []float64, lo, hi float64) []string {
	if len(vs) == 0 {
		return append(issues, name+": no samples")
	}
	for i, v := range vs {
		if v < lo || v > hi {
			issues = append(issues, fmt.Sprintf("%s[%d]=%g out of range [%g, %g]", name, i, v, lo, hi))
		}
	}
	return issues
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
