package host_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/fusionize/fusionize/host"
)

func TestInstanceMemoryIsCappedByTheGroupsMemorySize(t *testing.T) {
	cases := []struct {
		name      string
		cfg       host.Config
		wantPages uint32
	}{
		{"8 MB group", host.Config{MemoryMB: 8}, 8 * 16},
		{"64 MB group, a larger cap is lowered", host.Config{MemoryMB: 64, MemoryLimitPages: 65536}, 64 * 16},
		{"272 MB group, over the old fixed cap", host.Config{MemoryMB: 272}, 272 * 16},
		{"a smaller cap than the group's is kept", host.Config{MemoryMB: 128, MemoryLimitPages: 256}, 256},
		{"memory size unknown", host.Config{}, 4096},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, c.cfg, map[string]string{"growsize": wat("growsize"), "echo": wat("echo")})
			if got := h.MemoryLimit(); got != int64(c.wantPages)<<16 {
				t.Errorf("MemoryLimit %d, want %d", got, int64(c.wantPages)<<16)
			}
			out, err := h.Invoke(context.Background(), "growsize", nil)
			if err != nil {
				t.Fatal(err)
			}
			pages := binary.LittleEndian.Uint32(out)
			if pages != c.wantPages {
				t.Fatalf("the guest grew to %d pages, want the cap of %d", pages, c.wantPages)
			}
			assertServing(t, h)
		})
	}
}
