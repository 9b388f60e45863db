package lambda

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
)

// Benchmarks need aws-lambda-rie on PATH for the RIE side (scripts/install-rie.sh):
//
//	go test -run '^$' -bench . -benchtime 2000x -count 5 ./emulators/lambda/

func warmClients(b *testing.B) (emu, rie *awslambda.Client) {
	rie = startRIE(b)
	f := newFixture(b, Options{})
	f.create(b, "function")
	emu = f.client
	for _, c := range []*awslambda.Client{emu, rie} { // the cold starts
		if _, err := c.Invoke(context.Background(), echoInput()); err != nil {
			b.Fatal(err)
		}
	}
	return emu, rie
}

func echoInput() *awslambda.InvokeInput {
	return &awslambda.InvokeInput{FunctionName: aws.String("function"), Payload: []byte(`{"op":"echo","value":"bench"}`)}
}

func invokeOnce(b *testing.B, c *awslambda.Client) {
	out, err := c.Invoke(context.Background(), echoInput())
	if err != nil || out.FunctionError != nil {
		b.Fatalf("invoke: %v %v", err, out)
	}
}

// BenchmarkWarmInvoke: the real SDK client → server → environment process → response, for
// the emulator and for a bare RIE running the same bootstrap.
func BenchmarkWarmInvoke(b *testing.B) {
	emu, rie := warmClients(b)
	b.Run("emulator", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			invokeOnce(b, emu)
		}
	})
	b.Run("rie", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			invokeOnce(b, rie)
		}
	})
}

// BenchmarkWarmInvokeRatio alternates the two invokes call by call and reports the ratio of
// their mean latencies (target ≤ 2).
func BenchmarkWarmInvokeRatio(b *testing.B) {
	emu, rie := warmClients(b)
	b.ReportAllocs()
	var te, tr time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		invokeOnce(b, emu)
		t1 := time.Now()
		invokeOnce(b, rie)
		te, tr = te+t1.Sub(t0), tr+time.Since(t1)
	}
	b.ReportMetric(float64(te.Nanoseconds())/float64(b.N), "emulator-ns/op")
	b.ReportMetric(float64(tr.Nanoseconds())/float64(b.N), "rie-ns/op")
	b.ReportMetric(float64(te)/float64(tr), "emulator/rie")
}

// BenchmarkColdStart: every invoke starts a new environment of the trivial bootstrap
// (sandbox delay 0: the figure is the real process start and init plus the emulator's work).
func BenchmarkColdStart(b *testing.B) {
	f := newFixture(b, Options{ForceColdStart: true})
	f.create(b, "function")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		invokeOnce(b, f.client)
	}
	b.StopTimer()
	var init time.Duration
	reports := f.em.Reports("function")
	for _, r := range reports {
		init += r.InitDuration
	}
	b.ReportMetric(float64(init.Microseconds())/1000/float64(len(reports)), "init-ms")
}
