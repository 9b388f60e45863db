package span_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/span"
)

func TestValidateRefusesImplausibleSpans(t *testing.T) {
	ok := span.Span{Task: "A", Duration: time.Millisecond, Wait: time.Microsecond}
	for _, tc := range []struct {
		name string
		edit func(*span.Span)
		want error
	}{
		{"a plausible span", func(*span.Span) {}, nil},
		{"no task", func(s *span.Span) { s.Task = "" }, span.ErrNoTask},
		{"negative duration", func(s *span.Span) { s.Duration = -1 }, span.ErrBadDuration},
		{"negative billed", func(s *span.Span) { s.Billed = -1 }, span.ErrBadDuration},
		{"15 minutes", func(s *span.Span) { s.Duration = span.MaxDuration }, span.ErrBadDuration},
		{"an aggregate of 5 calls", func(s *span.Span) { s.Count = 5 }, nil},
		{"negative count", func(s *span.Span) { s.Count = -1 }, span.ErrBadCount},
		{"wait past duration", func(s *span.Span) { s.Wait = 2 * time.Millisecond }, span.ErrBadWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.edit(&s)
			if err := s.Validate(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}
