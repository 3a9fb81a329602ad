package workerapp

import (
	"errors"

	"github.com/jetflow-dev/jetflow/internal/cli"
)

// ErrUsage matches, with errors.Is, every error Run returns for a bad flag
// or argument (Main exits 2), and those of Usagef.
var ErrUsage = errors.New("workerapp: usage error")

// Usagef returns an error matching ErrUsage, for a Check that refuses a
// flag: Main prints it and exits 2.
func Usagef(format string, args ...any) error { return &usageError{cli.Usagef(format, args...)} }

// usageError marks an error of the command line for users (ErrUsage) and
// keeps the one the jetflow command maps to its exit status.
type usageError struct{ err error }

func (e *usageError) Error() string        { return e.err.Error() }
func (e *usageError) Unwrap() error        { return e.err }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

// asUsage marks the usage errors of the shared flags.
func asUsage(err error) error {
	var ue *usageError
	if errors.Is(err, cli.ErrUsage) && !errors.As(err, &ue) {
		return &usageError{err}
	}
	return err
}
