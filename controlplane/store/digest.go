package store

import (
	"encoding/hex"
	"fmt"
	"strings"
)

const digestPrefix = "sha256:"

// ParseDigest checks that d has the form "sha256:<64 lowercase hex digits>"
// and returns the hex part. Uppercase hex is refused so that every module has
// exactly one name.
func ParseDigest(d string) (string, error) {
	h, ok := strings.CutPrefix(d, digestPrefix)
	if !ok || len(h) != 64 {
		return "", fmt.Errorf("%w: %q: want sha256:<64 hex digits>", ErrBadDigest, d)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("%w: %q: want lowercase hex", ErrBadDigest, d)
		}
	}
	return h, nil
}

func formatDigest(sum []byte) string { return digestPrefix + hex.EncodeToString(sum) }
