package lambda

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"
)

// config is what a function version runs with; published versions keep a copy.
type config struct {
	Runtime       string
	Role          string
	Handler       string
	Description   string
	MemorySize    int
	Timeout       int // seconds
	Architecture  string
	Variables     map[string]string
	CodeDir       string // the unzipped package, shared by snapshots with the same code
	CodeSha256    string // base64 SHA-256 of the zip, as Lambda reports it
	CodeSize      int64
	LastModified  time.Time
	RevisionID    string
	VersionString string // "$LATEST" or "1", "2", …
}

// version is an immutable snapshot of a function's code and configuration: a published
// version, or one state of $LATEST (each update makes a new one). Environments belong to
// exactly one snapshot.
type version struct {
	fn      *function
	id      uint64 // unique among all snapshots of the emulator
	cfg     config
	retired bool // $LATEST replaced by an update, or deleted: its environments end
}

type alias struct {
	Name        string
	Version     string
	Description string
	Weights     map[string]float64 // additional version → weight
	RevisionID  string
}

type function struct {
	name     string
	dir      string // its deployment packages
	arn      string
	latest   *version
	versions []*version // published, versions[i] is version i+1; nil where deleted
	aliases  map[string]*alias
	tags     map[string]string
	reserved *int
	deleted  bool

	pool  pool
	queue *eventQueue
}

func newRevision() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// resolve picks the snapshot a qualifier names; for a weighted alias, pick gives a number in
// [0, 1) that chooses between its versions.
func (f *function) resolve(q string, pick func() float64) (*version, error) {
	switch {
	case q == "" || q == "$LATEST":
		return f.latest, nil
	case isVersionNumber(q):
		n, _ := strconv.Atoi(q)
		if n < 1 || n > len(f.versions) || f.versions[n-1] == nil {
			return nil, notFound("Function not found: %s:%s", f.arn, q)
		}
		return f.versions[n-1], nil
	}
	a, ok := f.aliases[q]
	if !ok {
		return nil, notFound("Function not found: %s:%s", f.arn, q)
	}
	target := a.Version
	if len(a.Weights) > 0 {
		r := pick()
		for v, w := range a.Weights {
			if r < w {
				target = v
				break
			}
			r -= w
		}
	}
	return f.resolve(target, pick)
}

func isVersionNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// configuration is the FunctionConfiguration wire shape.
type configuration struct {
	FunctionName     string
	FunctionArn      string
	Runtime          string
	Role             string
	Handler          string
	CodeSize         int64
	Description      string
	Timeout          int
	MemorySize       int
	LastModified     string
	CodeSha256       string
	Version          string
	Environment      *environmentVars `json:",omitempty"`
	State            string
	LastUpdateStatus string
	PackageType      string
	Architectures    []string
	RevisionId       string
	EphemeralStorage struct{ Size int }
}

type environmentVars struct {
	Variables map[string]string
}

func (v *version) configuration() configuration {
	c := configuration{
		FunctionName: v.fn.name, Runtime: v.cfg.Runtime, Role: v.cfg.Role, Handler: v.cfg.Handler,
		CodeSize: v.cfg.CodeSize, Description: v.cfg.Description, Timeout: v.cfg.Timeout,
		MemorySize: v.cfg.MemorySize, CodeSha256: v.cfg.CodeSha256, Version: v.cfg.VersionString,
		LastModified: v.cfg.LastModified.UTC().Format("2006-01-02T15:04:05.000-0700"),
		State:        "Active", LastUpdateStatus: "Successful", PackageType: "Zip",
		Architectures: []string{v.cfg.Architecture}, RevisionId: v.cfg.RevisionID,
	}
	c.FunctionArn = v.fn.arn
	if v.cfg.VersionString != "$LATEST" {
		c.FunctionArn += ":" + v.cfg.VersionString
	}
	if len(v.cfg.Variables) > 0 {
		c.Environment = &environmentVars{Variables: maps.Clone(v.cfg.Variables)}
	}
	c.EphemeralStorage.Size = 512
	return c
}

type aliasConfiguration struct {
	AliasArn        string
	Name            string
	FunctionVersion string
	Description     string
	RevisionId      string
	RoutingConfig   *routingConfig `json:",omitempty"`
}

type routingConfig struct {
	AdditionalVersionWeights map[string]float64
}

func (f *function) aliasConfiguration(a *alias) aliasConfiguration {
	c := aliasConfiguration{AliasArn: f.arn + ":" + a.Name, Name: a.Name, FunctionVersion: a.Version,
		Description: a.Description, RevisionId: a.RevisionID}
	if len(a.Weights) > 0 {
		c.RoutingConfig = &routingConfig{AdditionalVersionWeights: maps.Clone(a.Weights)}
	}
	return c
}

// reservedVariables are set by Lambda; a function may not set them.
var reservedVariables = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

func checkVariables(fn string, vars map[string]string) error {
	var bad []string
	for k := range vars {
		for _, r := range reservedVariables {
			if k == r {
				bad = append(bad, k)
			}
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return invalid("function %s: Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", fn, strings.Join(bad, ", "))
	}
	return nil
}

// checkLimits validates memory (MB) and timeout (s) as CreateFunction and
// UpdateFunctionConfiguration do.
func checkLimits(fn string, memory, timeout int) error {
	if memory < 128 || memory > 10240 {
		return invalid("function %s: MemorySize %d: must be between 128 and 10240 MB", fn, memory)
	}
	if timeout < 1 || timeout > 900 {
		return invalid("function %s: Timeout %d: must be between 1 and 900 seconds", fn, timeout)
	}
	return nil
}

func checkRuntime(fn, runtime string) error {
	switch runtime {
	case "provided.al2023", "provided.al2":
		return nil
	}
	return invalid("function %s: runtime %q is not supported by this emulator: use provided.al2023 or provided.al2 with a bootstrap executable", fn, runtime)
}

func checkArchitectures(fn string, archs []string) (string, error) {
	switch {
	case len(archs) == 0:
		return "x86_64", nil
	case len(archs) == 1 && (archs[0] == "x86_64" || archs[0] == "arm64"):
		return archs[0], nil
	}
	return "", invalid("function %s: Architectures %v: must be one of [x86_64] or [arm64]", fn, archs)
}

func (f *function) String() string { return fmt.Sprintf("function %s", f.name) }
