package gcf_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	"cloud.google.com/go/functions/apiv2/functionspb"
	"github.com/fusionize/fusionize/emulators/gcf"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Deploy a zipped Go module through the real client and call it.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "gcf")
	e, err := gcf.New(gcf.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close(ctx)
	if err := e.Start(ctx, "127.0.0.1:0", "127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	client, err := functions.NewFunctionClient(ctx, option.WithEndpoint(e.GRPCAddr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	parent := "projects/my-project/locations/us-central1"
	up, err := client.GenerateUploadUrl(ctx, &functionspb.GenerateUploadUrlRequest{Parent: parent})
	if err != nil {
		log.Fatal(err)
	}
	zipped, _ := os.ReadFile("function.zip") // go.mod at the root, vendor/ optional
	req, _ := http.NewRequest(http.MethodPut, up.UploadUrl, bytes.NewReader(zipped))
	req.Header.Set("Content-Type", "application/zip")
	if _, err := http.DefaultClient.Do(req); err != nil {
		log.Fatal(err)
	}
	op, err := client.CreateFunction(ctx, &functionspb.CreateFunctionRequest{
		Parent: parent, FunctionId: "hello",
		Function: &functionspb.Function{
			BuildConfig: &functionspb.BuildConfig{Runtime: "go126", EntryPoint: "Hello",
				Source: &functionspb.Source{Source: &functionspb.Source_StorageSource{StorageSource: up.StorageSource}}},
			ServiceConfig: &functionspb.ServiceConfig{AvailableMemory: "256Mi"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	var fn *functionspb.Function
	for fn == nil { // the client's Wait backs off from 1 s; poll faster
		if fn, err = op.Poll(ctx); err != nil {
			log.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Post(fn.ServiceConfig.Uri, "text/plain", nil)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("X-Emulator-Billed-Ms")) // billed ms: emulated
}
