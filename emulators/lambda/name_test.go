package lambda

import (
	"strings"
	"testing"
)

func TestParseFunctionRef(t *testing.T) {
	for _, c := range []struct {
		in, q            string
		name, qualifier  string
		account, invalid bool
	}{
		{in: "f", name: "f"},
		{in: "f:1", name: "f", qualifier: "1"},
		{in: "f:live", name: "f", qualifier: "live"},
		{in: "f", q: "$LATEST", name: "f", qualifier: "$LATEST"},
		{in: "arn:aws:lambda:us-east-1:123456789012:function:f", name: "f", account: true},
		{in: "arn:aws:lambda:us-east-1:123456789012:function:f:7", name: "f", qualifier: "7", account: true},
		{in: "123456789012:function:f:live", name: "f", qualifier: "live", account: true},
		{in: "f:1", q: "2", invalid: true},
		{in: "f:", invalid: true},
		{in: "", invalid: true},
		{in: "a/b", invalid: true},
		{in: "arn:aws:s3:::bucket", invalid: true},
		{in: strings.Repeat("x", 65), invalid: true},
	} {
		ref, err := parseFunctionRef(c.in, c.q)
		if c.invalid {
			if err == nil {
				t.Errorf("parse(%q, %q) = %+v, want an error", c.in, c.q, ref)
			}
			continue
		}
		if err != nil || ref.Name != c.name || ref.Qualifier != c.qualifier || (ref.Account != "") != c.account {
			t.Errorf("parse(%q, %q) = %+v, %v", c.in, c.q, ref, err)
		}
	}
}

// FuzzParseFunctionRef: any input parses to a valid name or fails with an
// InvalidParameterValueException; never a panic.
func FuzzParseFunctionRef(f *testing.F) {
	for _, s := range []string{"f", "f:1", "arn:aws:lambda:us-east-1:123456789012:function:f:live", "123456789012:function:f", "::", "arn:"} {
		f.Add(s, "")
		f.Add(s, "$LATEST")
	}
	f.Fuzz(func(t *testing.T, s, q string) {
		ref, err := parseFunctionRef(s, q)
		if err != nil {
			if err.Code != "InvalidParameterValueException" || err.Status != 400 {
				t.Fatalf("error %+v", err)
			}
			return
		}
		if !functionNameRE.MatchString(ref.Name) {
			t.Fatalf("parse(%q, %q) accepted name %q", s, q, ref.Name)
		}
		if ref.Qualifier != "" && !qualifierRE.MatchString(ref.Qualifier) {
			t.Fatalf("parse(%q, %q) accepted qualifier %q", s, q, ref.Qualifier)
		}
	})
}

// FuzzParseCreateFunction: a CreateFunction body is accepted only with valid limits.
func FuzzParseCreateFunction(f *testing.F) {
	f.Add([]byte(`{"FunctionName":"f","Runtime":"provided.al2023","Role":"r","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}`))
	f.Add([]byte(`{"FunctionName":"f","Runtime":"provided.al2","MemorySize":10240,"Timeout":900,"Architectures":["arm64"],"Code":{"ZipFile":"AA=="}}`))
	f.Add([]byte(`{"FunctionName":"f:1"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := parseCreateFunction(body)
		if err != nil {
			return
		}
		if *in.MemorySize < 128 || *in.MemorySize > 10240 || *in.Timeout < 1 || *in.Timeout > 900 || len(in.Code.ZipFile) == 0 {
			t.Fatalf("accepted %+v", in)
		}
	})
}
