package loop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fusionize/fusionize/fuser/cost"
)

func TestPricesReloadSaysWhatChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(`{"gcp":{"perGiBSecond":0.0000025}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := LoadPrices(path)
	if err != nil {
		t.Fatal(err)
	}
	if change, err := f.Reload(); err != nil || change != "" {
		t.Fatalf("unchanged file: change %q, err %v", change, err)
	}
	if err := os.WriteFile(path, []byte(`{"gcp":{"perGiBSecond":0.0000125}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	change, err := f.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if change != "gcp.perGiBSecond 0.0000025 → 0.0000125 (×5)" {
		t.Fatalf("change %q", change)
	}
	if got := f.Prices().GCP.PerGiBSecond; got != 0.0000125 {
		t.Fatalf("prices after reload: GCP per GiB-s %v", got)
	}
}

func TestBrokenPricesFileKeepsTheOldPrices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(`{"aws":{"x86PerGBSecond":0.00002}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := LoadPrices(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{"aws":{"x86PerGBSecond":-1}}`, `{"aws":{"x86PerGBSecnd":1}}`, `{"aws":`} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		change, err := f.Reload()
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: error %v does not name the file", bad, err)
		}
		if change != "" || f.Prices().AWS.X86PerGBSecond != 0.00002 {
			t.Fatalf("%s: change %q, prices %+v: the old prices must stay", bad, change, f.Prices().AWS)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Reload(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("removed file: error %v does not name it", err)
	}
	if _, err := LoadPrices(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadPrices of a missing file: %v", err)
	}
}

func TestDiffPricesOfEqualListsIsEmpty(t *testing.T) {
	if d := DiffPrices(cost.Default(), cost.Default()); d != "" {
		t.Fatalf("diff %q", d)
	}
}
