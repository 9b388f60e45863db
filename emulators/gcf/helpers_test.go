package gcf

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	"cloud.google.com/go/functions/apiv2/functionspb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const testParent = "projects/test-project/locations/us-central1"

// zipModule zips the testdata module dir, with vendor/ made by `go mod
// vendor` from the module cache when vendor is set; zips are made once.
var zips sync.Map // dir -> []byte

func zipModule(t testing.TB, dir string, vendor bool, extra map[string]string) []byte {
	t.Helper()
	key := dir + strings.Repeat("+v", boolInt(vendor))
	if z, ok := zips.Load(key); ok && extra == nil {
		return z.([]byte)
	}
	src := filepath.Join("testdata", dir)
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if vendor {
		cmd := exec.Command("go", "mod", "vendor")
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go mod vendor in %s: %v\n%s", dir, err, out)
		}
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(tmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tmp, path)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if extra == nil {
		zips.Store(key, buf.Bytes())
	}
	return buf.Bytes()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newEmulator starts an emulator on loopback and a real client for it.
func newEmulator(t testing.TB, opts Options) (*Emulator, *functions.FunctionClient) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.PendingTimeout == 0 {
		opts.PendingTimeout = 500 * time.Millisecond
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	c, err := functions.NewFunctionClient(context.Background(), option.WithEndpoint(e.GRPCAddr()),
		option.WithoutAuthentication(), option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	return e, c
}

// upload puts zip at a fresh upload URL as gcloud does.
func upload(t testing.TB, c *functions.FunctionClient, zipData []byte) *functionspb.Source {
	t.Helper()
	ctx := context.Background()
	u, err := c.GenerateUploadUrl(ctx, &functionspb.GenerateUploadUrlRequest{Parent: testParent})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, u.UploadUrl, bytes.NewReader(zipData))
	req.Header.Set("Content-Type", "application/zip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %s %s", resp.Status, body)
	}
	return &functionspb.Source{Source: &functionspb.Source_StorageSource{StorageSource: u.StorageSource}}
}

// waitOp polls op at a short interval (the client's Wait backs off from 1 s).
func waitOp[T any](t testing.TB, op interface {
	Poll(context.Context, ...gax.CallOption) (*T, error)
	Done() bool
}) (*T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		res, err := op.Poll(ctx)
		if err != nil || op.Done() {
			return res, err
		}
		select {
		case <-ctx.Done():
			t.Fatal("operation did not finish")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// deploy creates function id from zipData with sc and waits until it is done.
func deploy(t testing.TB, c *functions.FunctionClient, id, entry string, zipData []byte, sc *functionspb.ServiceConfig) (*functionspb.Function, error) {
	t.Helper()
	op, err := c.CreateFunction(context.Background(), &functionspb.CreateFunctionRequest{
		Parent: testParent, FunctionId: id,
		Function: &functionspb.Function{
			BuildConfig:   &functionspb.BuildConfig{Runtime: "go126", EntryPoint: entry, Source: upload(t, c, zipData)},
			ServiceConfig: sc,
		},
	})
	if err != nil {
		return nil, err
	}
	return waitOp[functionspb.Function](t, op)
}

func mustDeploy(t testing.TB, c *functions.FunctionClient, id, entry string, sc *functionspb.ServiceConfig) *functionspb.Function {
	t.Helper()
	fn, err := deploy(t, c, id, entry, zipModule(t, "fn", true, nil), sc)
	if err != nil {
		t.Fatalf("deploy %s: %v", id, err)
	}
	return fn
}

// call invokes a function URL and returns the response with its body read.
func call(t testing.TB, method, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// inflight reports requests in flight on the serving revision of id.
func inflight(e *Emulator, id string) int {
	e.mu.Lock()
	f := e.functions[testParent+"/functions/"+id]
	e.mu.Unlock()
	if f == nil || f.serving == nil {
		return 0
	}
	p := f.serving.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, in := range p.instances {
		n += in.inflight
	}
	return n
}

// instances reports the live instances of the serving revision of id.
func instances(e *Emulator, id string) int {
	e.mu.Lock()
	f := e.functions[testParent+"/functions/"+id]
	e.mu.Unlock()
	if f == nil || f.serving == nil {
		return 0
	}
	return f.serving.pool.count()
}

// waitFor polls cond every few milliseconds for up to 30 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// processesUnder lists live processes whose executable lies under dir.
func processesUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, dir) {
			out = append(out, d.Name()+" "+exe)
		}
	}
	return out
}
