// Task CS (CheckSound) of the IoT app: runs the sound-level check (CSL) and
// the anomaly check (CSA) sync and in parallel (task.Start), then records
// both results. Called async by I.
package main

import (
	"encoding/json"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type input struct {
	SensorID string `json:"sensorId"`
}

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		var req input
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, err
		}
		level, err := task.Start("CSL", in)
		if err != nil {
			return nil, err
		}
		anomaly, err := task.Start("CSA", in)
		if err != nil {
			_, _ = level.Wait() // every started call must be waited for
			return nil, err
		}
		l, errL := level.Wait()
		a, errA := anomaly.Wait()
		if errL != nil {
			return nil, errL
		}
		if errA != nil {
			return nil, errA
		}
		out := fmt.Appendf(nil, `{"level":%s,"anomaly":%s}`, l, a)
		if err := task.Put("sound/"+req.SensorID, out); err != nil {
			return nil, err
		}
		return out, nil
	})
}

func main() {}
