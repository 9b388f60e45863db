package gcf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits Cloud Functions (2nd gen) enforces on a function's service config.
const (
	defaultMemory      = "256M"
	defaultTimeout     = 60
	maxTimeout         = 3600
	defaultMaxInstance = 100
	minMemoryBytes     = 128 << 20
	maxMemoryBytes     = 32 << 30
	maxConcurrency     = 1000
)

// FunctionName is a parsed projects/P/locations/L/functions/F.
type FunctionName struct{ Project, Location, ID string }

func (n FunctionName) String() string {
	return "projects/" + n.Project + "/locations/" + n.Location + "/functions/" + n.ID
}

// Parent is projects/P/locations/L.
func (n FunctionName) Parent() string { return "projects/" + n.Project + "/locations/" + n.Location }

// ParseFunctionName parses a full function resource name.
func ParseFunctionName(s string) (FunctionName, error) {
	p := strings.Split(s, "/")
	if len(p) != 6 || p[0] != "projects" || p[2] != "locations" || p[4] != "functions" {
		return FunctionName{}, fmt.Errorf("%w: function name %q is not projects/P/locations/L/functions/F", ErrInvalidArgument, s)
	}
	n := FunctionName{Project: p[1], Location: p[3], ID: p[5]}
	if err := checkSegment("project", n.Project); err != nil {
		return FunctionName{}, err
	}
	if err := checkSegment("location", n.Location); err != nil {
		return FunctionName{}, err
	}
	if err := CheckFunctionID(n.ID); err != nil {
		return FunctionName{}, err
	}
	return n, nil
}

// ParseParent parses projects/P/locations/L.
func ParseParent(s string) (project, location string, err error) {
	p := strings.Split(s, "/")
	if len(p) != 4 || p[0] != "projects" || p[2] != "locations" {
		return "", "", fmt.Errorf("%w: parent %q is not projects/P/locations/L", ErrInvalidArgument, s)
	}
	if err := checkSegment("project", p[1]); err != nil {
		return "", "", err
	}
	if err := checkSegment("location", p[3]); err != nil {
		return "", "", err
	}
	return p[1], p[3], nil
}

func checkSegment(what, s string) error {
	if s == "" || len(s) > 63 {
		return fmt.Errorf("%w: %s %q must be 1-63 characters", ErrInvalidArgument, what, s)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: %s %q may hold only [a-z0-9-]", ErrInvalidArgument, what, s)
		}
	}
	return nil
}

// CheckFunctionID checks a function id: 4-63 characters of [a-z0-9-],
// starting with a letter and not ending with a hyphen.
func CheckFunctionID(id string) error {
	if len(id) < 4 || len(id) > 63 {
		return fmt.Errorf("%w: function id %q must be 4-63 characters", ErrInvalidArgument, id)
	}
	if id[0] < 'a' || id[0] > 'z' {
		return fmt.Errorf("%w: function id %q must start with a lowercase letter", ErrInvalidArgument, id)
	}
	if id[len(id)-1] == '-' {
		return fmt.Errorf("%w: function id %q must not end with a hyphen", ErrInvalidArgument, id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: function id %q may hold only [a-z0-9-]", ErrInvalidArgument, id)
		}
	}
	return nil
}

// CheckRuntime accepts the Go runtimes (go121 ... go126 and later).
func CheckRuntime(r string) error {
	v, ok := strings.CutPrefix(r, "go")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || len(v) < 3 || n < 111 {
		return fmt.Errorf("%w: runtime %q is not a Go runtime this emulator builds (go121 ... go126)", ErrInvalidArgument, r)
	}
	return nil
}

var quantitySuffixes = []struct {
	suffix string
	mult   float64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// ParseMemory parses a Kubernetes quantity as Cloud Functions' available_memory
// does ("256M", "512Mi", "1G", "1Gi", plain bytes) and returns bytes.
func ParseMemory(q string) (uint64, error) {
	num, mult := q, 1.0
	for _, s := range quantitySuffixes {
		if n, ok := strings.CutSuffix(q, s.suffix); ok {
			num, mult = n, s.mult
			break
		}
	}
	if num == "" || strings.ContainsAny(num, "eE+-_ ") || strings.HasPrefix(num, ".") && len(num) == 1 {
		return 0, fmt.Errorf("%w: available_memory %q is not a quantity like 256M or 1Gi", ErrInvalidArgument, q)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return 0, fmt.Errorf("%w: available_memory %q is not a quantity like 256M or 1Gi", ErrInvalidArgument, q)
	}
	b := f * mult
	if b < minMemoryBytes || b > maxMemoryBytes {
		return 0, fmt.Errorf("%w: available_memory %q must be between 128Mi and 32Gi", ErrInvalidArgument, q)
	}
	return uint64(math.Ceil(b)), nil
}

// cpuTable is Cloud Run's default vCPU by memory for Cloud Functions.
var cpuTable = []struct {
	memory uint64
	vcpu   float64
}{
	{128 << 20, 0.083}, {256 << 20, 0.167}, {512 << 20, 0.333}, {1 << 30, 0.583},
	{2 << 30, 1}, {4 << 30, 2}, {8 << 30, 2}, {16 << 30, 4}, {32 << 30, 8},
}

// DefaultCPU is the vCPU Cloud Functions gives a function of memory bytes:
// the first tier of its table at or above that memory.
func DefaultCPU(memory uint64) float64 {
	for _, t := range cpuTable {
		if memory <= t.memory {
			return t.vcpu
		}
	}
	return cpuTable[len(cpuTable)-1].vcpu
}

// ParseCPU parses available_cpu ("1", "0.583", "2", "1000m").
func ParseCPU(s string) (float64, error) {
	num, div := s, 1.0
	if n, ok := strings.CutSuffix(s, "m"); ok {
		num, div = n, 1000
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f/div > 8 || strings.ContainsAny(num, "eE+-") {
		return 0, fmt.Errorf("%w: available_cpu %q must be a number of vCPU in (0, 8]", ErrInvalidArgument, s)
	}
	return f / div, nil
}

// checkEnvName checks an environment variable name set on a function.
func checkEnvName(k string) error {
	if k == "" || strings.ContainsAny(k, "=\x00") {
		return fmt.Errorf("%w: environment variable name %q", ErrInvalidArgument, k)
	}
	switch k {
	case "PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "FUNCTION_TARGET":
		return fmt.Errorf("%w: environment variable %q is reserved", ErrInvalidArgument, k)
	}
	return nil
}

// checkLabel checks a label key and value as Google Cloud does.
func checkLabel(k, v string) error {
	ok := func(s string, empty bool) bool {
		if len(s) > 63 || s == "" && !empty {
			return false
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
		return true
	}
	if !ok(k, false) || k[0] < 'a' || k[0] > 'z' || !ok(v, true) {
		return fmt.Errorf("%w: label %q=%q: keys start with a lowercase letter, keys and values hold up to 63 of [a-z0-9_-]", ErrInvalidArgument, k, v)
	}
	return nil
}
