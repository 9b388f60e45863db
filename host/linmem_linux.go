package host

import (
	"math"
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// On Linux an instance's linear memory lives in its own anonymous mapping,
// outside Go's heap (RATIONALE.md, "Why is a guest's linear memory mapped
// outside Go's heap?"). wazero's default keeps it in a Go slice and grows
// it by append: every memory.grow of a Go guest (4 MiB at a time) copies
// the whole memory, the old copy stays resident until the next
// collection, and the guests' memories count towards the heap goal, so
// the collector lets the host's own garbage grow by as much again.
//
// The allocator reserves the instance's limit (Config.MemoryLimitPages)
// as address space with no access and makes pages readable and writable
// as the guest grows into them; the kernel backs a page when it is first
// touched and it reads as zero. A freed memory gives its pages back
// (MADV_DONTNEED) but keeps its mapping, which the next instance reuses:
// a view of guest memory that outlived its instance (a transport still
// sending a request body after its call was cancelled, say) reads zeros
// instead of faulting.

// osPage is the unit of mprotect and madvise.
var osPage = uint64(syscall.Getpagesize())

// reservations holds the mappings of freed memories, for reuse.
var reservations struct {
	mu   sync.Mutex
	free []reservation
}

// reservation is a mapping and how much of it is readable and writable:
// protection is kept across uses, so that is as far as its largest user
// grew.
type reservation struct {
	region []byte
	rw     uint64
}

// memoryAllocator returns the allocator the host instantiates modules with.
func memoryAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(allocateMapped)
}

// mappedMemory is one instance's linear memory.
type mappedMemory struct {
	region []byte // the reservation: len is its size, at least max
	max    uint64 // the memory's limit in bytes
	rw     uint64 // bytes of region that are readable and writable
}

func allocateMapped(_, max uint64) experimental.LinearMemory {
	m := &mappedMemory{max: max}
	reservations.mu.Lock()
	best := -1
	for i, r := range reservations.free {
		if uint64(len(r.region)) >= max && (best < 0 || len(r.region) < len(reservations.free[best].region)) {
			best = i
		}
	}
	if best >= 0 {
		r := reservations.free[best]
		reservations.free = append(reservations.free[:best], reservations.free[best+1:]...)
		m.region, m.rw = r.region, r.rw
	}
	reservations.mu.Unlock()
	if m.region != nil {
		return m
	}
	size := roundUp(max, osPage)
	if size == 0 {
		size = osPage
	}
	if size > math.MaxInt {
		return &heapMemory{max: max}
	}
	region, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		// No address space to reserve: fall back to a memory on Go's heap.
		return &heapMemory{max: max}
	}
	m.region = region
	return m
}

// Reallocate makes the first size bytes usable and returns them.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size > m.rw {
		end := min(roundUp(size, osPage), uint64(len(m.region)))
		if err := syscall.Mprotect(m.region[m.rw:end], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil // the guest's memory.grow fails
		}
		m.rw = end
	}
	return m.region[:size:size]
}

// Free gives the memory's pages back and keeps its mapping for reuse.
func (m *mappedMemory) Free() {
	if m.rw > 0 {
		// Pages released read as zero when touched again, as a new
		// instance's memory must. An error leaves them resident but
		// zeroing them by hand would cost what releasing saves.
		if err := syscall.Madvise(m.region[:m.rw], syscall.MADV_DONTNEED); err != nil {
			clear(m.region[:m.rw])
		}
	}
	reservations.mu.Lock()
	reservations.free = append(reservations.free, reservation{m.region, m.rw})
	reservations.mu.Unlock()
	m.region = nil
}

// heapMemory is a linear memory in a Go slice, grown by append: wazero's
// own way, for when no mapping can be had.
type heapMemory struct {
	buf []byte
	max uint64
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if n := uint64(len(m.buf)); size > n {
		m.buf = append(m.buf, make([]byte, size-n)...)
	}
	return m.buf[:size]
}

func (m *heapMemory) Free() { m.buf = nil }

func roundUp(n, unit uint64) uint64 { return (n + unit - 1) / unit * unit }
