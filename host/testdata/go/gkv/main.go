// Command gkv stores its input under key "k", reads it back and returns it;
// input "missing" reads an absent key and returns "absent".
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		if string(in) == "missing" {
			_, ok, err := task.Get("never-written")
			if err != nil {
				return nil, err
			}
			if !ok {
				return []byte("absent"), nil
			}
			return []byte("present"), nil
		}
		if err := task.Put("k", in); err != nil {
			return nil, err
		}
		v, _, err := task.Get("k")
		return v, err
	})
}

func main() {}
