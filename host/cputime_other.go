//go:build !linux

package host

import "time"

// threadCPU is not available here; CPU-share emulation falls back to wall
// time.
func threadCPU() time.Duration { return 0 }

const haveThreadCPU = false
