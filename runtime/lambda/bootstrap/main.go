// Command bootstrap is the Lambda custom runtime (provided.al2023) of a
// Fusionize fusion group: it serves the group in its deployment package
// through the Lambda Runtime API. Build it with
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -tags lambda.norpc -o bootstrap ./runtime/lambda/bootstrap
//
// adapters/aws builds it and packs it with the group's modules.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	lambdart "github.com/fusionize/fusionize/runtime/lambda"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == lambdart.PrecompileCommand {
		lambdart.MainPrecompile(ctx, os.Args[2:])
	}
	if err := lambdart.Run(ctx, lambdart.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, "bootstrap:", err)
		os.Exit(1)
	}
}
