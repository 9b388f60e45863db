package gcf

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"google.golang.org/protobuf/proto"
)

// function is one deployed (or deploying) function; guarded by Emulator.mu.
type function struct {
	name    FunctionName
	pb      *functionspb.Function // what Get reports; replaced, never mutated
	busy    bool                  // an operation is in flight
	gen     int                   // revisions created so far
	serving *revision             // nil until the first deploy succeeds
}

// revision is one immutable deployed configuration with its instances.
type revision struct {
	name     string // Cloud Run style: <id>-00001-abc
	function FunctionName
	build    *buildResult
	config   config
	pool     *pool
}

// config is the validated runtime part of a function.
type config struct {
	entryPoint   string
	runtime      string
	object       string // the uploaded source's storage object
	memoryBytes  uint64
	vcpu         float64
	concurrency  int
	maxInstances int
	timeout      time.Duration
	env          []string // service_config.environment_variables, sorted
	buildEnv     []string
}

// memoryMiB is the memory limit in MiB, rounded up.
func (c config) memoryMiB() int { return int((c.memoryBytes + 1<<20 - 1) >> 20) }

// normalize validates fn as Cloud Functions does, fills its defaults into a
// copy and returns the copy with the runtime config.
func (e *Emulator) normalize(name FunctionName, in *functionspb.Function) (*functionspb.Function, config, error) {
	fn := proto.Clone(in).(*functionspb.Function)
	fn.Name = name.String()
	var c config
	if fn.EventTrigger != nil {
		return nil, c, fmt.Errorf("%w: function %s: event triggers are not emulated; deploy an HTTP function", ErrInvalidArgument, name)
	}
	for k, v := range fn.Labels {
		if err := checkLabel(k, v); err != nil {
			return nil, c, fmt.Errorf("function %s: %w", name, err)
		}
	}
	bc := fn.BuildConfig
	if bc == nil {
		return nil, c, fmt.Errorf("%w: function %s: build_config is required (2nd gen builds from source)", ErrInvalidArgument, name)
	}
	if err := CheckRuntime(bc.Runtime); err != nil {
		return nil, c, fmt.Errorf("function %s: %w", name, err)
	}
	if bc.EntryPoint == "" {
		bc.EntryPoint = name.ID
	}
	ss := bc.GetSource().GetStorageSource()
	if ss == nil || ss.Object == "" {
		return nil, c, fmt.Errorf("%w: function %s: build_config.source.storage_source from GenerateUploadUrl is required", ErrInvalidArgument, name)
	}
	e.mu.Lock()
	uploaded := e.uploads[ss.Object] != ""
	e.mu.Unlock()
	if !uploaded {
		return nil, c, fmt.Errorf("%w: function %s: storage object gs://%s/%s was never uploaded", ErrInvalidArgument, name, ss.Bucket, ss.Object)
	}
	c.entryPoint, c.runtime, c.object = bc.EntryPoint, bc.Runtime, ss.Object
	for _, k := range slices.Sorted(maps.Keys(bc.EnvironmentVariables)) {
		c.buildEnv = append(c.buildEnv, k+"="+bc.EnvironmentVariables[k])
	}

	if fn.ServiceConfig == nil {
		fn.ServiceConfig = &functionspb.ServiceConfig{}
	}
	sc := fn.ServiceConfig
	if sc.AvailableMemory == "" {
		sc.AvailableMemory = defaultMemory
	}
	mem, err := ParseMemory(sc.AvailableMemory)
	if err != nil {
		return nil, c, fmt.Errorf("function %s: %w", name, err)
	}
	c.memoryBytes = mem
	if sc.AvailableCpu == "" {
		c.vcpu = DefaultCPU(mem)
		sc.AvailableCpu = strconv.FormatFloat(c.vcpu, 'f', -1, 64)
	} else if c.vcpu, err = ParseCPU(sc.AvailableCpu); err != nil {
		return nil, c, fmt.Errorf("function %s: %w", name, err)
	}
	switch {
	case sc.TimeoutSeconds == 0:
		sc.TimeoutSeconds = defaultTimeout
	case sc.TimeoutSeconds < 0 || sc.TimeoutSeconds > maxTimeout:
		return nil, c, fmt.Errorf("%w: function %s: timeout_seconds %d must be in [1, %d]", ErrInvalidArgument, name, sc.TimeoutSeconds, maxTimeout)
	}
	c.timeout = time.Duration(sc.TimeoutSeconds) * time.Second
	switch {
	case sc.MaxInstanceCount == 0:
		sc.MaxInstanceCount = defaultMaxInstance
	case sc.MaxInstanceCount < 0:
		return nil, c, fmt.Errorf("%w: function %s: max_instance_count %d must be positive", ErrInvalidArgument, name, sc.MaxInstanceCount)
	}
	if sc.MinInstanceCount < 0 || sc.MinInstanceCount > sc.MaxInstanceCount {
		return nil, c, fmt.Errorf("%w: function %s: min_instance_count %d must be in [0, max_instance_count]", ErrInvalidArgument, name, sc.MinInstanceCount)
	}
	c.maxInstances = int(sc.MaxInstanceCount)
	switch {
	case sc.MaxInstanceRequestConcurrency == 0:
		sc.MaxInstanceRequestConcurrency = 1
	case sc.MaxInstanceRequestConcurrency < 0 || sc.MaxInstanceRequestConcurrency > maxConcurrency:
		return nil, c, fmt.Errorf("%w: function %s: max_instance_request_concurrency %d must be in [1, %d]", ErrInvalidArgument, name, sc.MaxInstanceRequestConcurrency, maxConcurrency)
	}
	if sc.MaxInstanceRequestConcurrency > 1 && c.vcpu < 1 {
		return nil, c, fmt.Errorf("%w: function %s: max_instance_request_concurrency > 1 requires available_cpu of at least 1 (it is %g)", ErrInvalidArgument, name, c.vcpu)
	}
	c.concurrency = int(sc.MaxInstanceRequestConcurrency)
	for _, k := range slices.Sorted(maps.Keys(sc.EnvironmentVariables)) {
		if err := checkEnvName(k); err != nil {
			return nil, c, fmt.Errorf("function %s: %w", name, err)
		}
		c.env = append(c.env, k+"="+sc.EnvironmentVariables[k])
	}
	// Output-only fields are the emulator's to set.
	fn.State, fn.StateMessages, fn.Url = functionspb.Function_STATE_UNSPECIFIED, nil, ""
	sc.Uri, sc.Revision = "", ""
	sc.Service = "projects/" + name.Project + "/locations/" + name.Location + "/services/" + name.ID
	fn.Environment = functionspb.Environment_GEN_2
	return fn, c, nil
}

// revisionName is a Cloud Run style revision name.
func revisionName(id string, gen int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := []byte{letters[rand.IntN(26)], letters[rand.IntN(26)], letters[rand.IntN(26)]}
	return fmt.Sprintf("%s-%05d-%s", id, gen, b)
}

// functionURL is where the emulator's front serves the function.
func (e *Emulator) functionURL(n FunctionName) string {
	return e.baseURL() + "/functions/" + n.Project + "/" + n.Location + "/" + n.ID
}

// trimLog keeps the end of a build log, where the errors are.
func trimLog(s string, max int) string {
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	return "…" + s[len(s)-max:]
}

func roundUp(v, step float64) float64 { return math.Ceil(v/step) * step }
