package task

import "fmt"

// Logf formats and writes an info line to the host's log.
func Logf(format string, args ...any) { Log(LevelInfo, fmt.Sprintf(format, args...)) }
