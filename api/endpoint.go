package api

import (
	"errors"
	"fmt"
	"net/url"
)

// Kinds of endpoint: the invoke path a deployed group is reached by.
const (
	// KindGRPC: a Fusionize host serving fusionize.v1.HostService at Address.
	KindGRPC = "grpc"
	// KindLambda: an AWS Lambda function, invoked with the Lambda Invoke
	// API as FunctionName:Qualifier in Region (at APIEndpoint when set, as
	// for an emulator).
	KindLambda = "lambda"
	// KindHTTPS: an HTTP function (a Cloud Function) at URL.
	KindHTTPS = "https"
)

// ErrBadEndpoint is wrapped by Endpoint.Validate.
var ErrBadEndpoint = errors.New("bad endpoint")

// Endpoint is how a deployed fusion group is invoked. The adapter that
// deployed the group returns it; the deployer records it with the group's
// setup version, and hosts and clients route by it. Only the fields of its
// Kind are set.
type Endpoint struct {
	Kind string `json:"kind"` // KindGRPC, KindLambda or KindHTTPS

	// Address is "host:port" (any gRPC target) of a KindGRPC endpoint.
	Address string `json:"address,omitempty"`

	// FunctionName and Qualifier (a version or alias) name a KindLambda
	// endpoint's function in Region. APIEndpoint, when set, is the base URL
	// of the Lambda API to call instead of the region's (an emulator).
	FunctionName string `json:"functionName,omitempty"`
	Qualifier    string `json:"qualifier,omitempty"`
	Region       string `json:"region,omitempty"`
	APIEndpoint  string `json:"apiEndpoint,omitempty"`

	// URL is the https:// (or, for an emulator on loopback, http://) URL
	// of a KindHTTPS endpoint.
	URL string `json:"url,omitempty"`
}

// GRPC returns the endpoint of a host serving HostService at addr.
func GRPC(addr string) Endpoint { return Endpoint{Kind: KindGRPC, Address: addr} }

// Validate checks that the fields of e's Kind are set.
func (e Endpoint) Validate() error {
	switch e.Kind {
	case KindGRPC:
		if e.Address == "" {
			return fmt.Errorf("%w: grpc endpoint without an address", ErrBadEndpoint)
		}
	case KindLambda:
		if e.FunctionName == "" || e.Region == "" {
			return fmt.Errorf("%w: lambda endpoint needs a function name and a region", ErrBadEndpoint)
		}
		if e.APIEndpoint != "" {
			if _, err := url.Parse(e.APIEndpoint); err != nil {
				return fmt.Errorf("%w: lambda API endpoint: %v", ErrBadEndpoint, err)
			}
		}
	case KindHTTPS:
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%w: https endpoint needs an http(s) URL, got %q", ErrBadEndpoint, e.URL)
		}
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrBadEndpoint, e.Kind)
	}
	return nil
}

// String names the endpoint for logs and errors: "grpc 127.0.0.1:9001",
// "lambda fn:3 (us-east-1)", "https https://…".
func (e Endpoint) String() string {
	switch e.Kind {
	case KindGRPC:
		return "grpc " + e.Address
	case KindLambda:
		s := "lambda " + e.FunctionName
		if e.Qualifier != "" {
			s += ":" + e.Qualifier
		}
		return s + " (" + e.Region + ")"
	case KindHTTPS:
		return "https " + e.URL
	}
	return e.Kind + " endpoint"
}

// Endpoints maps each fusion group of one setup version to its endpoint:
// the routing table of that version.
type Endpoints map[string]Endpoint
