package lambda

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// ErrClosed is returned by calls on an emulator that Close has begun to end.
var ErrClosed = errors.New("lambda emulator: closed")

// apiError is an error as the Lambda API returns it: an HTTP status, the code the SDK reads
// from X-Amzn-ErrorType, and a JSON body with a message.
type apiError struct {
	Status     int
	Code       string
	Message    string
	Reason     string // TooManyRequestsException
	RetryAfter int    // seconds; TooManyRequestsException
}

func (e *apiError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, "ResourceNotFoundException", format, args...)
}

func conflict(format string, args ...any) *apiError {
	return errorf(http.StatusConflict, "ResourceConflictException", format, args...)
}

func invalid(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "InvalidParameterValueException", format, args...)
}

func tooLarge(format string, args ...any) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, "RequestTooLargeException", format, args...)
}

// writeError answers r with err, as an apiError when it is one and a ServiceException else.
func writeError(w http.ResponseWriter, requestID string, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Status: http.StatusInternalServerError, Code: "ServiceException", Message: err.Error()}
		if errors.Is(err, ErrClosed) {
			ae.Status, ae.Message = http.StatusServiceUnavailable, "the emulator is shutting down"
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", ae.Code)
	h.Set("X-Amzn-RequestId", requestID)
	body := map[string]string{"Type": "User", "message": ae.Message}
	if ae.Status >= 500 {
		body["Type"] = "Service"
	}
	if ae.Code == "TooManyRequestsException" {
		h.Set("Retry-After", strconv.Itoa(max(ae.RetryAfter, 1)))
		body["Reason"] = ae.Reason
	}
	w.WriteHeader(ae.Status)
	_ = json.NewEncoder(w).Encode(body)
}
