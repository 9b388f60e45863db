package lambda

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

var (
	bootstrapOnce sync.Once
	bootstrapPath string
	bootstrapErr  error
	bootstrapDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bootstrapDir != "" {
		os.RemoveAll(bootstrapDir)
	}
	os.Exit(code)
}

// testBootstrap builds internal/testbootstrap once per test binary, as a Lambda custom runtime
// is built.
func testBootstrap(t testing.TB) string {
	t.Helper()
	bootstrapOnce.Do(func() {
		bootstrapDir, bootstrapErr = os.MkdirTemp("", "lambda-bootstrap-")
		if bootstrapErr != nil {
			return
		}
		bootstrapPath = filepath.Join(bootstrapDir, "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrapPath, "./internal/testbootstrap")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			bootstrapErr = err
			bootstrapPath = string(out)
		}
	})
	if bootstrapErr != nil {
		t.Fatalf("building the test bootstrap: %v\n%s", bootstrapErr, bootstrapPath)
	}
	return bootstrapPath
}

// zipOf packages files (name → content) with mode 0755 as a deployment package.
func zipOf(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var zipOnce sync.Once
var bootstrapZip []byte

func testZip(t testing.TB) []byte {
	path := testBootstrap(t)
	zipOnce.Do(func() {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		bootstrapZip = zipOf(t, map[string][]byte{"bootstrap": b})
	})
	return bootstrapZip
}

// fixture is an emulator serving on loopback and a real SDK client pointed at it.
type fixture struct {
	em     *Emulator
	client *awslambda.Client
	url    string
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	if opts.RetryDelays == nil {
		opts.RetryDelays = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	em, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { em.Serve(ctx, ln); close(served) }()
	url := "http://" + ln.Addr().String()
	client := awslambda.New(awslambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		if err := em.Close(cctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		cancel()
		<-served
	})
	return &fixture{em: em, client: client, url: url}
}

type fnOption func(*awslambda.CreateFunctionInput)

func withMemory(mb int32) fnOption {
	return func(in *awslambda.CreateFunctionInput) { in.MemorySize = aws.Int32(mb) }
}
func withTimeout(s int32) fnOption {
	return func(in *awslambda.CreateFunctionInput) { in.Timeout = aws.Int32(s) }
}
func withEnv(vars map[string]string) fnOption {
	return func(in *awslambda.CreateFunctionInput) { in.Environment = &types.Environment{Variables: vars} }
}

// create deploys the test bootstrap as function name through the SDK.
func (f *fixture) create(t testing.TB, name string, opts ...fnOption) *awslambda.CreateFunctionOutput {
	t.Helper()
	in := &awslambda.CreateFunctionInput{
		FunctionName:  aws.String(name),
		Role:          aws.String("arn:aws:iam::123456789012:role/test"),
		Runtime:       types.RuntimeProvidedal2023,
		Handler:       aws.String("bootstrap"),
		Architectures: []types.Architecture{types.ArchitectureX8664},
		MemorySize:    aws.Int32(1769),
		Code:          &types.FunctionCode{ZipFile: testZip(t)},
	}
	for _, o := range opts {
		o(in)
	}
	out, err := f.client.CreateFunction(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	return out
}

// invoke calls name with the event and returns the SDK's answer.
func (f *fixture) invoke(t testing.TB, name string, ev map[string]any, mods ...func(*awslambda.InvokeInput)) *awslambda.InvokeOutput {
	t.Helper()
	out, err := f.tryInvoke(name, ev, mods...)
	if err != nil {
		t.Fatalf("Invoke %s %v: %v", name, ev, err)
	}
	return out
}

func (f *fixture) tryInvoke(name string, ev map[string]any, mods ...func(*awslambda.InvokeInput)) (*awslambda.InvokeOutput, error) {
	payload, _ := json.Marshal(ev)
	in := &awslambda.InvokeInput{FunctionName: aws.String(name), Payload: payload, LogType: types.LogTypeTail}
	for _, m := range mods {
		m(in)
	}
	return f.client.Invoke(context.Background(), in)
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return v
}

// childProcesses counts this process's live child processes (zombies excluded).
func childProcesses(t testing.TB) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	me := os.Getpid()
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		k := strings.LastIndexByte(s, ')')
		if k < 0 {
			continue
		}
		f := strings.Fields(s[k+1:])
		if len(f) > 2 && f[1] == strconv.Itoa(me) && f[0] != "Z" {
			n++
		}
	}
	return n
}
