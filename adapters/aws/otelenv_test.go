package aws

import (
	"testing"

	"github.com/fusionize/fusionize/adapters"
)

func TestFunctionsGetTheDeployersOTELEnvironment(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
	t.Setenv("OTEL_SERVICE_NAME", "shop")
	env := (&Adapter{}).environment(adapters.Deployment{App: "shop"})
	if env["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://collector:4317" || env["OTEL_SERVICE_NAME"] != "shop" {
		t.Fatalf("function environment %v lacks the OTEL_* variables", env)
	}
}
