// Task SE (StoreEvent) of the IoT app: stores the raw batch in the key-value
// store (the paper's DynamoDB table) under events/<sensor>/<timestamp>, reads
// it back to confirm the write, and answers with the key and the digest.
// Called sync by I.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

type reading struct {
	SensorID  string `json:"sensorId"`
	Timestamp string `json:"timestamp"`
}

type result struct {
	Key    string `json:"key"`
	Bytes  int    `json:"bytes"`
	Digest string `json:"digest"`
}

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		var r reading
		if err := json.Unmarshal(in, &r); err != nil {
			return nil, err
		}
		key := "events/" + r.SensorID + "/" + r.Timestamp
		if err := task.Put(key, in); err != nil {
			return nil, err
		}
		back, ok, err := task.Get(key)
		if err != nil {
			return nil, err
		}
		if !ok || !bytes.Equal(back, in) {
			return nil, fmt.Errorf("StoreEvent: %s did not read back", key)
		}
		sum := sha256.Sum256(in)
		return json.Marshal(result{Key: key, Bytes: len(in), Digest: fmt.Sprintf("sha256:%x", sum)})
	})
}

func main() {}
