package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadPricesFileIsRefusedNamingIt: demo and optimize refuse a --prices
// file that does not parse before they start anything, naming the file and
// the field.
func TestBadPricesFileIsRefusedNamingIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(`{"gcp":{"perGiBSecnd":1}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join("testdata", "chatty")
	for _, args := range [][]string{
		{"--data-dir", t.TempDir(), "demo", app, "--prices", path, "--watch", "1m"},
		{"--data-dir", t.TempDir(), "optimize", app, "--prices", path, "--watch", "1m"},
	} {
		_, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "--prices: prices file "+path) || !strings.Contains(err.Error(), "perGiBSecnd") {
			t.Errorf("%s: error %v: want one naming the file and the field", args[2], err)
		}
	}
}
