package steps_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/jetflow-dev/jetflow/steps"
)

type NotFound struct{ ID string }

func (e *NotFound) Error() string { return "no " + e.ID }

type Refused string

func (e Refused) Error() string { return string(e) }

// A step error without a jetflow type gets a stable name: "Error" for the
// standard library's plain errors, else its Go type's name, found through
// fmt.Errorf's wrapping.
func TestAsErrorNames(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"errors.New", errors.New("boom"), steps.TypeError},
		{"fmt.Errorf", fmt.Errorf("boom %d", 1), steps.TypeError},
		{"fmt.Errorf wrapping errors.New", fmt.Errorf("calling: %w", errors.New("boom")), steps.TypeError},
		{"errors.Join", errors.Join(errors.New("a"), errors.New("b")), steps.TypeError},
		{"pointer type", &NotFound{ID: "7"}, "NotFound"},
		{"wrapped pointer type", fmt.Errorf("lookup: %w", &NotFound{ID: "7"}), "NotFound"},
		{"value type", Refused("no"), "Refused"},
		{"another package's type", &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}, "PathError"},
		{"a jetflow type", fmt.Errorf("x: %w", steps.NewError("InsufficientStock", "none")), "InsufficientStock"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			se := steps.AsError(tt.err)
			if se.Type != tt.want {
				t.Errorf("got type %q, want %q", se.Type, tt.want)
			}
		})
	}
}

// The message of a plain error is its own, once.
func TestAsErrorKeepsTheMessage(t *testing.T) {
	err := fmt.Errorf("lookup: %w", &NotFound{ID: "7"})
	if se := steps.AsError(err); se.Message != "lookup: no 7" || se.Error() != "NotFound: lookup: no 7" {
		t.Errorf("got %q (%q)", se.Message, se.Error())
	}
}
