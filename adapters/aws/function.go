package aws

import (
	"fmt"
	"strconv"
	"strings"
)

// FunctionName is the Lambda function that holds a group of an app:
// "fusionize-<app>-<group>", with characters Lambda does not allow replaced
// by '-' and, past Lambda's 64 characters, shortened with a hash of the
// full name. Every setup version of the group is a version of this
// function, reached through the alias AliasName(version).
func FunctionName(app, group string) string {
	name := "fusionize-" + clean(app) + "-" + clean(group)
	if len(name) <= 64 {
		return name
	}
	return name[:55] + "-" + fmt.Sprintf("%08x", fnv32(name))
}

// AliasName is the alias of a setup version: "v<version>".
func AliasName(version int64) string { return "v" + strconv.FormatInt(version, 10) }

// versionOfAlias parses an alias made by AliasName.
func versionOfAlias(alias string) (int64, bool) {
	s, ok := strings.CutPrefix(alias, "v")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v > 0
}

func clean(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return string(b)
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
