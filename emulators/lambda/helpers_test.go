package lambda

import (
	"errors"

	"github.com/aws/smithy-go"
)

// errorCode is the API error code the SDK decoded from err.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
