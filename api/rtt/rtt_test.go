package rtt_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fusionize/fusionize/api/rtt"
)

func TestBetweenUsesLinkEitherWaySameRegionAndDefault(t *testing.T) {
	tb := rtt.Default()
	for _, tc := range []struct {
		a, b string
		want time.Duration
	}{
		{"aws/us-east-1", "gcp/us-east4", time.Millisecond},
		{"gcp/us-east4", "aws/us-east-1", time.Millisecond},
		{"aws/us-east-1", "aws/us-east-1", 500 * time.Microsecond},
		{"aws/eu-west-1", "gcp/us-east4", 50 * time.Millisecond},
	} {
		if got := tb.Between(tc.a, tc.b); got != tc.want {
			t.Errorf("Between(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if got := rtt.Zero().Between("aws/us-east-1", "gcp/us-central1"); got != 0 {
		t.Errorf("zero table: %v", got)
	}
}

func TestParseOverlaysDefaults(t *testing.T) {
	tb, err := rtt.Parse([]byte(`{"links":[{"a":"gcp/us-east4","b":"aws/us-east-1","rttMs":200},{"a":"local","b":"aws/us-east-1","rttMs":30}],"defaultRttMs":80}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := tb.Between("aws/us-east-1", "gcp/us-east4"); got != 200*time.Millisecond {
		t.Errorf("replaced link: %v", got)
	}
	if got := tb.Between("aws/us-east-1", "local"); got != 30*time.Millisecond {
		t.Errorf("added link: %v", got)
	}
	if got := tb.Between("aws/us-east-1", "gcp/us-central1"); got != 27*time.Millisecond {
		t.Errorf("kept default link: %v", got)
	}
	if got, want := len(tb.Links), len(rtt.DefaultLinks())+1; got != want {
		t.Errorf("%d links, want %d", got, want)
	}
	if tb.SameRegionMs != rtt.SameRegionMs || tb.DefaultMs != 80 {
		t.Errorf("figures %v / %v", tb.SameRegionMs, tb.DefaultMs)
	}
}

func TestParseRejectsBadTablesNamingTheCulprit(t *testing.T) {
	for name, in := range map[string]string{
		"negative":   `{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":-1}]}`,
		"unnamed":    `{"links":[{"a":"","b":"gcp/us-east4","rttMs":1}]}`,
		"twice":      `{"links":[{"a":"x","b":"y","rttMs":1},{"a":"y","b":"x","rttMs":2}]}`,
		"hour":       `{"defaultRttMs":3600001}`,
		"same":       `{"sameRegionRttMs":-0.1}`,
		"unknown":    `{"link":[]}`,
		"not json":   `links`,
		"wrong type": `{"links":{"a":"x"}}`,
	} {
		_, err := rtt.Parse([]byte(in))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if name == "twice" && !errors.Is(err, rtt.ErrInvalid) {
			t.Errorf("%s: %v does not wrap ErrInvalid", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"links":[{"a":"aws/us-east-1","b":"gcp/us-east4","rttMs":200}]}`))
	f.Add([]byte(`{"sameRegionRttMs":0,"defaultRttMs":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := rtt.Parse(data)
		if err != nil {
			return
		}
		if err := tb.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid table: %v", err)
		}
		for _, l := range tb.Links {
			if d := tb.Between(l.A, l.B); d < 0 || d != tb.Between(l.B, l.A) {
				t.Fatalf("Between(%s, %s) = %v, reverse %v", l.A, l.B, d, tb.Between(l.B, l.A))
			}
		}
	})
}

func ExampleTable_Between() {
	tb := rtt.Default()
	fmt.Println(tb.Between("aws/us-east-1", "gcp/us-central1"))
	fmt.Println(tb.Between("gcp/us-east4", "gcp/us-east4"))
	// Output:
	// 27ms
	// 500µs
}
