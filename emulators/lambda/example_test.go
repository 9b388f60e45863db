package lambda_test

import (
	"context"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/fusionize/fusionize/emulators/lambda"
)

// An emulator on loopback and the real SDK client pointed at it.
func Example() {
	ctx := context.Background()
	em, err := lambda.New(lambda.Options{})
	if err != nil {
		panic(err)
	}
	defer em.Close(ctx)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go em.Serve(ctx, l)

	client := awslambda.New(awslambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + l.Addr().String()),
		Credentials:  credentials.NewStaticCredentialsProvider("x", "x", ""),
	})
	list, err := client.ListFunctions(ctx, &awslambda.ListFunctionsInput{})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(list.Functions), "functions")
	// Output: 0 functions
}
