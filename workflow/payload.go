package workflow

import (
	"errors"
	"fmt"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// PayloadDecodeError is a payload that does not decode into its Go type:
// a workflow's input (the run fails with a BadInput error saying so), a
// step's output (Future.Get returns it), a run's output (Result), a
// signal's payload (Receive returns a *SignalPayloadError wrapping it). It
// is the type package steps defines for a step's input.
type PayloadDecodeError = steps.PayloadDecodeError

// ErrPayloadDecode matches (errors.Is) every *PayloadDecodeError.
var ErrPayloadDecode = steps.ErrPayloadDecode

// decodePayload decodes a user's payload into v, a pointer, and names it
// what in the *PayloadDecodeError it returns when it does not fit.
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
