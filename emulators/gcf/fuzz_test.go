package gcf

import (
	"strings"
	"testing"
)

func TestParseMemoryAcceptsKubernetesQuantities(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"256M", 256e6}, {"512Mi", 512 << 20}, {"1G", 1e9}, {"1Gi", 1 << 30}, {"0.5Gi", 512 << 20},
		{"134217728", 128 << 20}, {"140000k", 140000e3}, {"32Gi", 32 << 30},
	} {
		if got, err := ParseMemory(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "M", "1", "64Mi", "33Gi", "1e9", "-1Gi", "1 Gi", "1GB", "Gi1", ".Mi", "NaNMi", "InfGi"} {
		if _, err := ParseMemory(bad); err == nil {
			t.Errorf("ParseMemory(%q) accepted", bad)
		}
	}
}

func TestDefaultCPUFollowsCloudRunTable(t *testing.T) {
	for _, tc := range []struct {
		mem  string
		vcpu float64
	}{{"128Mi", 0.083}, {"256M", 0.167}, {"256Mi", 0.167}, {"512Mi", 0.333}, {"1Gi", 0.583}, {"2Gi", 1}, {"4Gi", 2}, {"8Gi", 2}, {"16Gi", 4}, {"32Gi", 8}, {"3Gi", 2}} {
		b, err := ParseMemory(tc.mem)
		if err != nil || DefaultCPU(b) != tc.vcpu {
			t.Errorf("DefaultCPU(%s) = %v, %v; want %v", tc.mem, DefaultCPU(b), err, tc.vcpu)
		}
	}
}

func TestParseFunctionNameChecksEverySegment(t *testing.T) {
	if n, err := ParseFunctionName("projects/p-1/locations/us-central1/functions/my-fn"); err != nil || n.ID != "my-fn" || n.Parent() != "projects/p-1/locations/us-central1" {
		t.Fatalf("valid name: %+v %v", n, err)
	}
	for _, bad := range []string{"", "projects/p/locations/l/functions/abc", "projects/p/locations/l/functions/my_fn",
		"projects/p/locations/l/functions/" + strings.Repeat("a", 64), "projects/p/locations/l/functions/fn-end-", "projects//locations/l/functions/abcd",
		"projects/p/locations/l/fns/abcd", "projects/p/locations/l/functions/abcd/x"} {
		if _, err := ParseFunctionName(bad); err == nil {
			t.Errorf("ParseFunctionName(%q) accepted", bad)
		}
	}
}

func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"256M", "512Mi", "1G", "1Gi", "0.5Gi", "134217728", "1e3Mi", "-1", "Gi"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseMemory(s)
		if err != nil {
			return
		}
		if b < minMemoryBytes || b > maxMemoryBytes {
			t.Fatalf("ParseMemory(%q) = %d, outside [128Mi, 32Gi]", s, b)
		}
		if DefaultCPU(b) <= 0 {
			t.Fatalf("DefaultCPU(%d) <= 0", b)
		}
	})
}

func FuzzParseFunctionName(f *testing.F) {
	f.Add("projects/p/locations/us-central1/functions/my-fn")
	f.Add("projects/p/locations/l/functions/a")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseFunctionName(s)
		if err != nil {
			return
		}
		if n.String() != s {
			t.Fatalf("ParseFunctionName(%q).String() = %q", s, n.String())
		}
		if CheckFunctionID(n.ID) != nil {
			t.Fatalf("accepted id %q", n.ID)
		}
	})
}
