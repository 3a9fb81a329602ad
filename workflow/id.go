package workflow

import (
	"fmt"
	"unicode/utf8"
)

// MaxIDLength is the longest workflow ID accepted, in bytes.
const MaxIDLength = 256

// ValidateID checks a workflow ID. IDs travel in subjects and key names, so
// they may hold letters, digits, '-', '_' and '=' only: no '.', '*', '>',
// white space or anything else, and 1 to 256 bytes. The error is an
// *InvalidIDError matching ErrInvalidID.
func ValidateID(id string) error {
	if id == "" {
		return &InvalidIDError{ID: id, Reason: "empty"}
	}
	if len(id) > MaxIDLength {
		return &InvalidIDError{ID: id, Reason: fmt.Sprintf("%d bytes, over %d", len(id), MaxIDLength)}
	}
	for i, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
		case c == utf8.RuneError:
			return &InvalidIDError{ID: id, Reason: fmt.Sprintf("byte %d is not UTF-8", i)}
		default:
			return &InvalidIDError{ID: id, Reason: fmt.Sprintf("byte %d is %q; allowed are ASCII letters, digits, '-', '_' and '='", i, c)}
		}
	}
	return nil
}
