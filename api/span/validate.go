package span

import (
	"errors"
	"fmt"
	"time"
)

// MaxDuration bounds a plausible span: one lasting this long or longer is
// invalid. No platform Fusionize targets runs a function for 15 minutes
// (Lambda's hard limit).
const MaxDuration = 15 * time.Minute

// Reasons a span is invalid; Validate wraps one of them.
var (
	ErrNoTask      = errors.New("span names no task")
	ErrBadDuration = errors.New("negative or absurd duration")
	ErrBadWait     = errors.New("wait exceeds duration")
	ErrBadCount    = errors.New("negative count")
)

// Validate reports why s is not a plausible span (wrapping ErrNoTask,
// ErrBadDuration, ErrBadWait or ErrBadCount), or nil. It is the one check every receiver
// of spans applies: the control plane when hosts report them, analytics
// before it learns from them.
func (s *Span) Validate() error {
	switch {
	case s.Task == "":
		return ErrNoTask
	case s.Duration < 0 || s.Wait < 0 || s.Billed < 0:
		return fmt.Errorf("%w: duration %s, wait %s, billed %s", ErrBadDuration, s.Duration, s.Wait, s.Billed)
	case s.Duration >= MaxDuration:
		return fmt.Errorf("%w: %s is %s or more", ErrBadDuration, s.Duration, MaxDuration)
	case s.Wait > s.Duration:
		return fmt.Errorf("%w: wait %s, duration %s", ErrBadWait, s.Wait, s.Duration)
	case s.Count < 0:
		return fmt.Errorf("%w: %d", ErrBadCount, s.Count)
	}
	return nil
}
