package steps

import (
	"context"
	"errors"
	"fmt"

	"github.com/jetflow-dev/jetflow/kv"
)

// ValidName reports whether name can name a step or workflow: 1 to 128
// ASCII letters, digits, '-' or '_', so that it is one NATS subject token.
// (Checked on every step scheduled and run: a loop, not a regexp.)
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// Handler is a step as the worker sees it, without its types.
type Handler interface {
	// Name is the step's name, unique in the namespace.
	Name() string
	// Invoke decodes the input, runs the step and encodes its output.
	Invoke(ctx context.Context, input []byte) ([]byte, error)
	// Implemented is false for a step declared with Ref.
	Implemented() bool
}

// Definition is a typed step: its name, its input and output types, and the
// function that runs it (nil for a step declared with Ref). It is immutable
// and safe for concurrent use.
type Definition[I, O any] struct {
	name string
	fn   func(context.Context, I) (O, error)
}

// New defines a step. The name travels in subjects and consumer names, so it
// must satisfy ValidName; a worker refuses to register one that does not.
func New[I, O any](name string, fn func(ctx context.Context, in I) (O, error)) *Definition[I, O] {
	return &Definition[I, O]{name: name, fn: fn}
}

// Ref declares a step that another process implements, with the same name
// and types, so workflow code can call it type-checked.
func Ref[I, O any](name string) *Definition[I, O] {
	return &Definition[I, O]{name: name}
}

// Name returns the step's name.
func (d *Definition[I, O]) Name() string { return d.name }

// Implemented reports whether the definition has a handler in this process.
func (d *Definition[I, O]) Implemented() bool { return d.fn != nil }

// Invoke decodes input, runs the handler and encodes the output. An input
// that does not decode into I (a field I does not have, a value of the
// wrong type: see PayloadDecodeError) is a non-retryable error of type
// BadInput, and the handler is not called.
func (d *Definition[I, O]) Invoke(ctx context.Context, input []byte) ([]byte, error) {
	if d.fn == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotImplemented, d.name)
	}
	var in I
	if err := decodePayload("the input of step "+d.name, input, &in); err != nil {
		return nil, NonRetryable(TypeBadInput, "%v", err)
	}
	out, err := d.fn(ctx, in)
	if err != nil {
		return nil, err
	}
	return kv.MarshalPayload(out)
}

// decodePayload decodes a payload into v, a pointer, and names it what in
// the *PayloadDecodeError it returns when it does not fit.
func decodePayload(what string, data []byte, v any) error {
	err := kv.UnmarshalPayload(data, v)
	if err == nil {
		return nil
	}
	var pe *kv.PayloadError
	if errors.As(err, &pe) {
		return &PayloadDecodeError{What: what, Field: pe.Path, Type: pe.Type, Got: pe.Got, Unknown: pe.Unknown, Err: pe.Err}
	}
	return &PayloadDecodeError{What: what, Type: fmt.Sprintf("%T", v), Err: err}
}

// Validate checks the definition's name.
func (d *Definition[I, O]) Validate() error {
	if !ValidName(d.name) {
		return fmt.Errorf("%w: %q", ErrInvalidName, d.name)
	}
	return nil
}

// AcceptsInput reports whether v has the step's input type. Saga uses it to
// check a compensation's input when it is added rather than when it runs.
func (d *Definition[I, O]) AcceptsInput(v any) bool {
	_, ok := v.(I)
	return ok
}
