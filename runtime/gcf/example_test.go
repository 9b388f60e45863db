package gcf_test

import (
	_ "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/fusionize/fusionize/runtime/gcf"
)

// The function package of a group's source (FunctionSource writes it)
// registers the group's HTTP function in init; Google's Go buildpack
// generates the main package that serves it.
func ExampleStart() {
	functions.HTTP(gcf.EntryPoint, gcf.Start(gcf.Options{}))
}
