package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

// ReportInitError tells the Runtime API that the environment failed to
// initialise (POST /2018-06-01/runtime/init/error), so that the invoke that
// started it fails with errorType and message instead of a bare exit. It
// returns an error when no Runtime API is reachable.
func ReportInitError(ctx context.Context, errorType string, cause error) error {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		return fmt.Errorf("AWS_LAMBDA_RUNTIME_API is not set: not in a Lambda execution environment")
	}
	body, err := json.Marshal(map[string]string{"errorType": errorType, "errorMessage": cause.Error()})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", errorType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("report init error: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("report init error: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("report init error: Runtime API answered %s", resp.Status)
	}
	return nil
}
