package lambda

import (
	"regexp"
	"strings"
)

var (
	functionNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	qualifierRE    = regexp.MustCompile(`^(\$LATEST|[0-9]{1,10}|[a-zA-Z0-9_-]{1,128})$`)
	aliasNameRE    = regexp.MustCompile(`^(?:[0-9]*[a-zA-Z_-][a-zA-Z0-9_-]*)$`)
)

// functionRef is a function named in a request path: a name, name:qualifier, a partial ARN
// (account:function:name[:qualifier]) or a full ARN
// (arn:aws:lambda:region:account:function:name[:qualifier]).
type functionRef struct {
	Name      string
	Qualifier string // "" when none was given
	Region    string // from a full ARN
	Account   string // from a full or partial ARN
}

// parseFunctionRef parses a function name from a request path, joined with the Qualifier
// query parameter (q, may be empty).
func parseFunctionRef(s, q string) (functionRef, *apiError) {
	var ref functionRef
	if len(s) == 0 || len(s) > 170 {
		return ref, invalid("function name %q: must be 1 to 170 characters", s)
	}
	parts := strings.Split(s, ":")
	switch {
	case parts[0] == "arn":
		// arn:partition:lambda:region:account:function:name[:qualifier]
		if len(parts) < 7 || len(parts) > 8 || parts[2] != "lambda" || parts[5] != "function" || !strings.HasPrefix(parts[1], "aws") {
			return ref, invalid("function name %q: not a Lambda function ARN", s)
		}
		ref.Region, ref.Account, ref.Name = parts[3], parts[4], parts[6]
		if len(parts) == 8 {
			ref.Qualifier = parts[7]
		}
	case len(parts) >= 3 && parts[1] == "function":
		// account:function:name[:qualifier]
		if len(parts) > 4 {
			return ref, invalid("function name %q: too many parts", s)
		}
		ref.Account, ref.Name = parts[0], parts[2]
		if len(parts) == 4 {
			ref.Qualifier = parts[3]
		}
	case len(parts) <= 2:
		ref.Name = parts[0]
		if len(parts) == 2 {
			ref.Qualifier = parts[1]
		}
	default:
		return ref, invalid("function name %q: not a name, name:qualifier or ARN", s)
	}
	if !functionNameRE.MatchString(ref.Name) {
		return ref, invalid("function name %q: %q must be 1 to 64 letters, digits, hyphens or underscores", s, ref.Name)
	}
	if ref.Account != "" && !regexp.MustCompile(`^[0-9]{12}$`).MatchString(ref.Account) {
		return ref, invalid("function name %q: account %q is not 12 digits", s, ref.Account)
	}
	if strings.Contains(s, ":") && ref.Qualifier == "" && len(parts) != 7 && len(parts) != 3 {
		return ref, invalid("function name %q: empty qualifier", s)
	}
	if q != "" {
		if ref.Qualifier != "" && ref.Qualifier != q {
			return ref, invalid("The derived qualifier from the function name %q does not match the specified qualifier %q", s, q)
		}
		ref.Qualifier = q
	}
	if ref.Qualifier != "" && !qualifierRE.MatchString(ref.Qualifier) {
		return ref, invalid("function name %q: qualifier %q is not $LATEST, a version or an alias", s, ref.Qualifier)
	}
	return ref, nil
}
