package cli

import (
	"errors"
	"fmt"
)

// ErrUsage matches every *UsageError with errors.Is.
var ErrUsage = errors.New("jetflow: usage error")

// UsageError is a mistake in the command line or its input: the command
// exits with status 2 and prints Msg.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrUsage) hold.
func (e *UsageError) Is(target error) bool { return target == ErrUsage }

// Usagef returns a *UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}
