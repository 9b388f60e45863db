package lambda

import (
	"context"
	"fmt"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/host"
	lambdatransport "github.com/fusionize/fusionize/host/transport/lambda"
)

// routes returns the transport to the other groups of the package's setup
// by their endpoints.
func routes(eps api.Endpoints) host.Transport {
	lt := lambdatransport.New(lambdatransport.Options{})
	return host.TransportFunc(func(ctx context.Context, group string, c host.Call) ([]byte, error) {
		ep, ok := eps[group]
		if !ok {
			return nil, &host.Error{Task: c.Task, Code: host.CodeUnavailable, Msg: fmt.Sprintf("no endpoint recorded for group %q", group)}
		}
		switch ep.Kind {
		case api.KindLambda:
			return lt.Call(ctx, lambdatransport.Function{Name: ep.FunctionName, Qualifier: ep.Qualifier, Region: ep.Region, Endpoint: ep.APIEndpoint}, c)
		}
		return nil, &host.Error{Task: c.Task, Code: host.CodeUnavailable, Msg: fmt.Sprintf("group %q: no transport for %s", group, ep)}
	})
}
