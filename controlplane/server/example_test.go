package server_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/server"
)

// A control plane on free loopback ports, and a client that applies a setup
// and watches it, as a host would.
func Example() {
	dir, err := os.MkdirTemp("", "fusionize-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	cp, err := server.New(server.Options{
		DataDir: dir, App: "webshop",
		Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- cp.Serve(ctx) }()

	// A client on the same machine reads the token from the data directory.
	token, err := client.ReadToken(dir)
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Dial(ctx, cp.Addr(), token)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	setups, _ := c.WatchSetup(ctx, 0)
	v, err := c.ApplySetup(ctx, setup.Separate(0, []string{"cart", "checkout"}, setup.Place{Provider: "local"}, 128))
	if err != nil {
		log.Fatal(err)
	}
	su := <-setups
	st, err := c.Status(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("applied version", v)
	fmt.Println("watched", su.Partition())
	fmt.Println("status:", st.App, "at version", st.SetupVersion)

	stop()
	if err := <-served; err != nil {
		log.Fatal(err)
	}
	// Output:
	// applied version 1
	// watched (cart) (checkout)
	// status: webshop at version 1
}
