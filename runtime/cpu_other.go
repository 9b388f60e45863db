//go:build !unix

package runtime

import "time"

// ProcessCPU returns the CPU time this process has used so far; on this
// platform it is not known (false).
func ProcessCPU() (time.Duration, bool) { return 0, false }
