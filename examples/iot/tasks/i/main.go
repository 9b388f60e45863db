// Task I (AnalyzeSensor), the entry of the IoT app: receives one batch of
// sensor readings, checks the sensor (CW) and stores the event (SE) sync,
// then starts the temperature (CT), sound (CS) and air (CA) analyses async.
// It answers with the results of CW and SE; the analyses act on their own.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type reading struct {
	SensorID    string          `json:"sensorId"`
	Location    string          `json:"location"`
	Timestamp   string          `json:"timestamp"`
	Temperature []float64       `json:"temperature"`
	Sound       []float64       `json:"sound"`
	Air         json.RawMessage `json:"air"`
	Vehicles    []int           `json:"vehicles"`
}

type checkResult struct {
	OK bool `json:"ok"`
}

var out []byte // reused across invocations

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		var r reading
		if err := json.Unmarshal(in, &r); err != nil {
			return nil, fmt.Errorf("AnalyzeSensor: bad reading: %w", err)
		}
		// The batch's fingerprint: CPU work standing in for decoding the payload.
		fp := spin(in, 200)

		check, err := task.Call("CW", in)
		if err != nil {
			return nil, err
		}
		event, err := task.Call("SE", in)
		if err != nil {
			return nil, err
		}
		var cw checkResult
		if err := json.Unmarshal(check, &cw); err != nil {
			return nil, fmt.Errorf("AnalyzeSensor: CW answered %q: %w", check, err)
		}
		if cw.OK { // analyse only readings of a healthy sensor
			if err := task.CallAsyncJSON("CT", map[string]any{"sensorId": r.SensorID, "location": r.Location, "temperature": r.Temperature}); err != nil {
				return nil, err
			}
			if err := task.CallAsyncJSON("CS", map[string]any{"sensorId": r.SensorID, "location": r.Location, "sound": r.Sound}); err != nil {
				return nil, err
			}
			if err := task.CallAsyncJSON("CA", map[string]any{"sensorId": r.SensorID, "location": r.Location, "air": r.Air, "vehicles": r.Vehicles}); err != nil {
				return nil, err
			}
		}
		out = fmt.Appendf(out[:0], `{"sensorId":%q,"fingerprint":"%x","analysed":%t,"check":%s,"event":%s}`,
			r.SensorID, fp[:8], cw.OK, check, event)
		return out, nil
	})
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
