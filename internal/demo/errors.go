package demo

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownName is returned for a workflow or step name the demo does
	// not define.
	ErrUnknownName = errors.New("demo: unknown workflow or step")
	// ErrBadInput matches (errors.Is) every *InputError.
	ErrBadInput = errors.New("demo: invalid JSON input")
	// ErrNotConfirmed is the payment failure of an order whose 3-D Secure
	// confirmation was declined or did not come in time.
	ErrNotConfirmed = errors.New("demo: payment not confirmed (3-D Secure)")
)

// InputError says what is wrong with a JSON input and where.
type InputError struct {
	// Workflow (or step) whose input it is.
	Name string
	// Line and Column locate the problem (1-based) when known.
	Line, Column int
	Err          error
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("demo: input of %s: line %d, column %d: %v", e.Name, e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("demo: input of %s: %v", e.Name, e.Err)
}

// Unwrap returns the decoding error.
func (e *InputError) Unwrap() error { return e.Err }

// Is matches ErrBadInput.
func (e *InputError) Is(target error) bool { return target == ErrBadInput }
