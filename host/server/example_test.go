package server_test

import (
	"context"
	"fmt"
	"net"

	"github.com/fusionize/fusionize/api"
	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/server"
	"github.com/fusionize/fusionize/host/transport"
	grpctransport "github.com/fusionize/fusionize/host/transport/grpc"
)

// Host a runs task caller, which calls task echo; echo runs on host b,
// reached over gRPC.
func Example() {
	ctx := context.Background()
	s := &setup.Setup{Version: 1, Groups: []setup.Group{
		{Name: "a", Tasks: []string{"caller"}},
		{Name: "b", Tasks: []string{"echo"}},
	}}

	// Host b serves group b.
	hb, _ := host.New(ctx, host.Config{Name: "host-b", Group: "b", Logger: quiet})
	defer hb.Close(ctx)
	_ = hb.LoadFile(ctx, "echo", wat("echo"), "")
	_ = hb.SetSetup(s)
	srv, _ := server.New(hb, server.Options{})
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(lis)
	defer srv.Shutdown(ctx)

	// Host a sends calls for group b to the endpoint recorded for it,
	// through the transport of grpc endpoints.
	tr, _ := grpctransport.NewTransport(grpctransport.Options{})
	defer tr.Close()
	mux := transport.NewMux()
	mux.Register(api.KindGRPC, tr)
	eps := host.StaticEndpoints{"b": api.GRPC(lis.Addr().String())}
	ha, _ := host.New(ctx, host.Config{Name: "host-a", Group: "a", Transport: mux, Endpoints: eps, Logger: quiet})
	defer ha.Close(ctx)
	_ = ha.LoadFile(ctx, "caller", wat("caller"), "")
	_ = ha.SetSetup(s)

	out, err := ha.Invoke(ctx, "caller", []byte("hello over gRPC"))
	fmt.Println(string(out), err)

	_, err = ha.Invoke(ctx, "nope", nil)
	fmt.Println(host.CodeOf(err) == host.CodeUnknownTask)
	// Output:
	// hello over gRPC <nil>
	// true
}
