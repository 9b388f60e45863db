package transport

import (
	"errors"
	"io"

	"github.com/fusionize/fusionize/api"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
	"github.com/fusionize/fusionize/host/transport/https"
	lambdatransport "github.com/fusionize/fusionize/host/transport/lambda"
)

// Options configure the transports of Standard.
type Options struct {
	GRPC   grpctransport.Options
	Lambda lambdatransport.Options
	HTTPS  https.Options
}

// Standard returns a Mux with every invoke path registered: gRPC to hosts
// (api.KindGRPC), the Lambda Invoke API (api.KindLambda) and HTTPS to
// Cloud Functions (api.KindHTTPS). Close the mux to close them.
func Standard(o Options) (*Mux, error) {
	gt, err := grpctransport.NewTransport(o.GRPC)
	if err != nil {
		return nil, err
	}
	m := NewMux()
	m.Register(api.KindGRPC, gt)
	m.Register(api.KindLambda, lambdatransport.New(o.Lambda))
	m.Register(api.KindHTTPS, https.New(o.HTTPS))
	return m, nil
}

// Close closes every registered transport that holds resources.
func (m *Mux) Close() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var errs []error
	for _, t := range m.byKind {
		if c, ok := t.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
