package gcp

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Labels every function the adapter creates carries. Label values hold
// only [a-z0-9_-]; the exact app and group are in the function's
// environment (EnvApp, EnvGroup).
const (
	LabelManaged = "fusionize"
	LabelApp     = "fusionize-app"
	LabelGroup   = "fusionize-group"
	LabelVersion = "fusionize-version"
)

// FunctionName is the function id of a setup version of a group of an app:
// "fz-<app>-<group>-v<version>" in Cloud Functions' alphabet (lowercase
// letters, digits and '-', at most 63 characters). Where that loses
// anything (upper case, other characters, length) a hash of the exact
// names keeps ids of different groups apart ("CA" and "ca").
func FunctionName(app, group string, version int64) string {
	a, g := clean(app), clean(group)
	suffix := "-v" + strconv.FormatInt(version, 10)
	name := "fz-" + a + "-" + g
	if a != app || g != group || len(name)+len(suffix) > 63 {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s\x00%s", app, group)
		hash := fmt.Sprintf("-%08x", h.Sum32())
		name = strings.TrimRight(name[:min(len(name), 63-len(suffix)-len(hash))], "-") + hash
	}
	return name + suffix
}

// Labels are the labels of a setup version's function.
func Labels(app, group string, version int64) map[string]string {
	return map[string]string{
		LabelManaged: "true",
		LabelApp:     labelValue(app),
		LabelGroup:   labelValue(group),
		LabelVersion: strconv.FormatInt(version, 10),
	}
}

func clean(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "x"
	}
	return string(b)
}

func labelValue(s string) string {
	v := strings.ReplaceAll(clean(s), "--", "-")
	if len(v) > 63 {
		v = v[:63]
	}
	return v
}

// cpuTable is Cloud Run's default vCPU by memory for Cloud Functions.
var cpuTable = []struct {
	memoryMB int
	vcpu     float64
}{
	{128, 0.083}, {256, 0.167}, {512, 0.333}, {1024, 0.583}, {2048, 1}, {4096, 2}, {8192, 2}, {16384, 4}, {32768, 8},
}

// DefaultCPU is the vCPU Cloud Functions gives a function of memoryMB: the
// first tier of its table at or above that memory.
func DefaultCPU(memoryMB int) float64 {
	for _, t := range cpuTable {
		if memoryMB <= t.memoryMB {
			return t.vcpu
		}
	}
	return cpuTable[len(cpuTable)-1].vcpu
}
