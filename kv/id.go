package kv

import (
	"fmt"
	"unicode/utf8"
)

// MaxIDLength is the longest workflow ID, in bytes.
const MaxIDLength = 256

// IDProblem says what makes id unfit to be a workflow ID, or "" when nothing
// does. IDs travel in subjects and key names: letters, digits, '-', '_' and
// '=' only, 1 to MaxIDLength bytes.
func IDProblem(id string) string {
	if id == "" {
		return "empty"
	}
	if len(id) > MaxIDLength {
		return fmt.Sprintf("%d bytes, over %d", len(id), MaxIDLength)
	}
	for i, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
		case c == utf8.RuneError:
			return fmt.Sprintf("byte %d is not UTF-8", i)
		default:
			return fmt.Sprintf("byte %d is %q; allowed are ASCII letters, digits, '-', '_' and '='", i, c)
		}
	}
	return ""
}
