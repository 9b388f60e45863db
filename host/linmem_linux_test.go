package host

import (
	"bytes"
	"testing"
	"unsafe"
)

func TestMappedMemoryGrowsInPlaceAndComesBackZeroed(t *testing.T) {
	const limit = 1 << 20
	m := allocateMapped(0, limit)
	mm, ok := m.(*mappedMemory)
	if !ok {
		t.Skipf("no mapping to be had: got %T", m)
	}
	small := m.Reallocate(64 << 10)
	if len(small) != 64<<10 {
		t.Fatalf("Reallocate(64 KiB) gave %d bytes", len(small))
	}
	if !bytes.Equal(small, make([]byte, len(small))) {
		t.Fatal("a new memory is not zero")
	}
	for i := range small {
		small[i] = byte(i)
	}
	big := m.Reallocate(512 << 10)
	if unsafe.SliceData(big) != unsafe.SliceData(small) {
		t.Error("growing moved the memory")
	}
	if !bytes.Equal(big[:len(small)], small) {
		t.Error("growing lost what the guest wrote")
	}
	big[len(big)-1] = 1
	if m.Reallocate(limit+1) != nil {
		t.Errorf("Reallocate past the limit of %d bytes succeeded", limit)
	}
	base := unsafe.SliceData(big)
	m.Free()
	if mm.region != nil {
		t.Error("a freed memory keeps its region")
	}

	again := allocateMapped(0, limit)
	re := again.Reallocate(512 << 10)
	if unsafe.SliceData(re) != base {
		t.Error("the freed mapping was not reused")
	}
	if !bytes.Equal(re, make([]byte, len(re))) {
		t.Error("a reused memory is not zero: the last instance's bytes leaked into the next")
	}
	if again.Reallocate(limit+1) != nil {
		t.Error("a reused region lets the guest grow past its own limit")
	}
	again.Free()

	// A smaller limit may reuse a larger region; it must still stop at its own.
	smaller := allocateMapped(0, 128<<10)
	if smaller.Reallocate(256<<10) != nil {
		t.Error("Reallocate past a reused region's new limit succeeded")
	}
	smaller.Free()
}
