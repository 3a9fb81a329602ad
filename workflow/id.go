package workflow

import "github.com/jetflow-dev/jetflow/kv"

// MaxIDLength is the longest workflow ID accepted, in bytes.
const MaxIDLength = 256

// ValidateID checks a workflow ID. IDs travel in subjects and key names, so
// they may hold letters, digits, '-', '_' and '=' only: no '.', '*', '>',
// white space or anything else, and 1 to 256 bytes. The error is an
// *InvalidIDError matching ErrInvalidID.
func ValidateID(id string) error {
	if reason := kv.IDProblem(id); reason != "" {
		return &InvalidIDError{ID: id, Reason: reason}
	}
	return nil
}
