package api_test

import (
	"errors"
	"testing"

	"github.com/fusionize/fusionize/api"
)

func TestEndpointValidateNeedsTheFieldsOfItsKind(t *testing.T) {
	for _, tc := range []struct {
		ep api.Endpoint
		ok bool
	}{
		{api.GRPC("127.0.0.1:9001"), true},
		{api.Endpoint{Kind: api.KindGRPC}, false},
		{api.Endpoint{Kind: api.KindLambda, FunctionName: "iot-I", Qualifier: "3", Region: "us-east-1"}, true},
		{api.Endpoint{Kind: api.KindLambda, FunctionName: "iot-I", Region: "us-east-1", APIEndpoint: "http://127.0.0.1:9001"}, true},
		{api.Endpoint{Kind: api.KindLambda, FunctionName: "iot-I"}, false},
		{api.Endpoint{Kind: api.KindHTTPS, URL: "https://us-east4-p.cloudfunctions.net/iot-I"}, true},
		{api.Endpoint{Kind: api.KindHTTPS, URL: "ftp://x"}, false},
		{api.Endpoint{Kind: "smoke-signal"}, false},
		{api.Endpoint{}, false},
	} {
		err := tc.ep.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, api.ErrBadEndpoint)) {
			t.Errorf("%v: Validate() = %v, want ok=%v", tc.ep, err, tc.ok)
		}
	}
}
