//go:build tools

// This file keeps funcframework in vendor/: the build's generated main imports it.
package fn

import _ "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
