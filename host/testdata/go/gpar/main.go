// Command gpar calls gsleep twice in parallel and returns both results
// joined by '+'.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

func init() {
	task.Handle(func(in []byte) ([]byte, error) {
		a, err := task.Start("gsleep", in)
		if err != nil {
			return nil, err
		}
		b, err := task.Start("gsleep", in)
		if err != nil {
			return nil, err
		}
		ra, err := a.Wait()
		if err != nil {
			return nil, err
		}
		rb, err := b.Wait()
		if err != nil {
			return nil, err
		}
		return append(append(ra, '+'), rb...), nil
	})
}

func main() {}
