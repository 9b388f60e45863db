package task

import "encoding/json"

// HandleJSON registers a handler that decodes its input as JSON into In and
// encodes its result as JSON.
func HandleJSON[In, Out any](f func(In) (Out, error)) {
	Handle(func(input []byte) ([]byte, error) {
		var in In
		if len(input) > 0 {
			if err := json.Unmarshal(input, &in); err != nil {
				return nil, err
			}
		}
		out, err := f(in)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	})
}

// CallJSON encodes in as JSON, calls task name synchronously and decodes the
// result into an Out.
func CallJSON[Out any](name string, in any) (Out, error) {
	var out Out
	b, err := json.Marshal(in)
	if err != nil {
		return out, err
	}
	res, err := Call(name, b)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(res, &out)
	return out, err
}

// StartJSON encodes in as JSON and starts a parallel sync call to task name.
func StartJSON(name string, in any) (Pending, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return Pending{}, err
	}
	return Start(name, b)
}

// WaitJSON waits for p and decodes its result into an Out.
func WaitJSON[Out any](p Pending) (Out, error) {
	var out Out
	res, err := p.Wait()
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(res, &out)
	return out, err
}

// CallAsyncJSON encodes in as JSON and calls task name asynchronously.
func CallAsyncJSON(name string, in any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return CallAsync(name, b)
}
