//go:build !linux

package host

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is nil off Linux: wazero keeps linear memory in Go's heap.
func memoryAllocator() experimental.MemoryAllocator { return nil }
