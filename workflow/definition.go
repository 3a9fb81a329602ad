package workflow

import (
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// Definition is a typed workflow: a name and a deterministic function from
// input I to output O. Define it once at package level and register it with
// a Worker; start runs of it with Start. It is immutable and safe for
// concurrent use.
type Definition[I, O any] struct {
	name string
	fn   func(Context, I) (O, error)
}

// New defines a workflow. The name travels in subjects and consumer names:
// letters, digits, '-' and '_'.
func New[I, O any](name string, fn func(ctx Context, in I) (O, error)) *Definition[I, O] {
	return &Definition[I, O]{name: name, fn: fn}
}

// Name returns the workflow's name.
func (d *Definition[I, O]) Name() string { return d.name }

// Registrable is a workflow definition of any type, as a Worker registers it.
type Registrable interface {
	Name() string
	execute(ctx Context, input []byte) ([]byte, error)
}

func (d *Definition[I, O]) execute(ctx Context, input []byte) ([]byte, error) {
	var in I
	if err := decodePayload("the input of workflow "+d.name, input, &in); err != nil {
		return nil, steps.NonRetryable(steps.TypeBadInput, "%v", err)
	}
	out, err := d.fn(ctx, in)
	if err != nil {
		return nil, err
	}
	return kv.MarshalPayload(out)
}
