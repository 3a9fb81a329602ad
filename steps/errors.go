package steps

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// Error types jetflow itself gives to the errors it records.
const (
	TypeStartToCloseTimeout    = "StartToCloseTimeout"
	TypeScheduleToCloseTimeout = "ScheduleToCloseTimeout"
	TypePanic                  = "Panic"
	TypeBreakerOpen            = "BreakerOpen"
	TypeBadInput               = "BadInput"
	TypeNotImplemented         = "NotImplemented"
	// TypePayloadTooLarge: a step's input or output does not fit in one
	// message of the server's max_payload.
	TypePayloadTooLarge = "PayloadTooLarge"
	// TypeCanceled: the attempt was stopped because its run was canceled
	// or terminated.
	TypeCanceled = "Canceled"
	// TypeError is the type of an error that names none: one made by
	// errors.New or fmt.Errorf (see AsError).
	TypeError = "Error"
)

var (
	// ErrInvalidName is returned when a step name is not a valid subject token
	// (letters, digits, '-' and '_').
	ErrInvalidName = errors.New("steps: invalid step name")
	// ErrNotImplemented is returned when a step referenced with Ref is invoked
	// in a process that has no handler for it.
	ErrNotImplemented = errors.New("steps: step has no handler in this process")
	// ErrAttemptsExhausted matches, with errors.Is, a step failure recorded
	// because the retry policy ran out of attempts (or of schedule-to-close time).
	ErrAttemptsExhausted = errors.New("steps: attempts exhausted")
	// ErrTimeout matches, with errors.Is, any *Error whose Type is a timeout.
	ErrTimeout = errors.New("steps: timeout")
	// ErrBreakerOpen matches, with errors.Is, the error of an attempt that an
	// open circuit breaker refused without calling the handler.
	ErrBreakerOpen = &Error{Type: TypeBreakerOpen, Message: "circuit breaker is open", NonRetryable: true}
)

// Error is a step failure with a type that RetryPolicy.NonRetryableErrorTypes
// can match. Return one from a handler to name the failure:
//
//	return "", steps.NewError("InsufficientStock", "only 2 left")
//
// or steps.NonRetryable(...) to stop retrying whatever the policy says.
// Errors that are not an *Error are recorded with a type named after their
// Go type (see AsError).
type Error struct {
	Type         string
	Message      string
	NonRetryable bool
	// Details carries optional extra data (msgpack-encodable).
	Details []byte
}

// NewError returns a retryable *Error of the given type.
func NewError(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...)}
}

// NonRetryable returns an *Error that is never retried.
func NonRetryable(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...), NonRetryable: true}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// Is makes errors.Is match two *Error values of the same Type, and the
// timeout types against ErrTimeout.
func (e *Error) Is(target error) bool {
	if target == ErrTimeout {
		return e.Type == TypeStartToCloseTimeout || e.Type == TypeScheduleToCloseTimeout
	}
	var t *Error
	if errors.As(target, &t) {
		return t.Type == e.Type
	}
	return false
}

// AsError converts any error to an *Error: an *Error in its chain is
// returned as is; anything else gets the message of err and a type named
// after the first error in its chain (following Unwrap() error) that is
// not one of the standard library's plain errors: the name of its Go type
// without pointer or package, so a *mypkg.NotFound, even wrapped by
// fmt.Errorf("...: %w", err), is "NotFound". An error made by errors.New
// or fmt.Errorf alone, or of an unnamed type, is TypeError ("Error").
// These names are what RetryPolicy.NonRetryableErrorTypes, events, metrics
// and history show.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	return &Error{Type: typeName(err), Message: err.Error()}
}

// typeName names an error that is not an *Error after its Go type.
func typeName(err error) string {
	for err != nil {
		t := reflect.TypeOf(err)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if !plain(t) {
			if t.Name() == "" {
				return TypeError
			}
			return t.Name()
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return TypeError
}

// plain reports whether t is one of the standard library's anonymous
// error types: errors.New's, fmt.Errorf's (with one %w or several) and
// errors.Join's. They say nothing of what failed.
func plain(t reflect.Type) bool {
	switch t.PkgPath() + "." + t.Name() {
	case "errors.errorString", "errors.joinError", "fmt.wrapError", "fmt.wrapErrors":
		return true
	}
	return false
}

// Retryable reports whether the policy retries a failure e.
func (p RetryPolicy) Retryable(e *Error) bool {
	return !e.NonRetryable && !slices.Contains(p.NonRetryableErrorTypes, e.Type)
}

// ErrPayloadDecode matches (errors.Is) every *PayloadDecodeError.
var ErrPayloadDecode = errors.New("jetflow: payload does not decode")

// PayloadDecodeError is a payload — a step's or workflow's input or output,
// a signal's payload, a side effect's value — that does not decode into the
// Go type it is meant for: a field that the type does not have, a value of
// the wrong kind, an integer out of its field's range. Payloads name struct
// fields by their json tags (see the README's "Payloads"), so these are the
// names Field uses.
//
// A step whose input does not decode fails at once, non-retryable, with an
// *Error of type BadInput whose message is this error's.
type PayloadDecodeError struct {
	// What names the payload: "the input of step Reserve", "the output of
	// step Pay", "signal approved".
	What string
	// Field leads from the payload's root to the offending value:
	// "items[2].quantity"; "" when the payload as a whole does not fit.
	Field string
	// Type is the Go type wanted at Field or, for an unknown field
	// (Unknown), the struct type that has no such field.
	Type string
	// Got says what the payload holds at Field: "string", "map", "integer
	// 300, out of range", "unknown field".
	Got string
	// Unknown is set when Field names no field of Type.
	Unknown bool
	// Err is the codec's own error.
	Err error
}

func (e *PayloadDecodeError) Error() string {
	var why string
	switch {
	case e.Unknown:
		why = fmt.Sprintf("field %q is not in %s", e.Field, e.Type)
	case e.Got != "" && e.Field != "":
		why = fmt.Sprintf("at %s: want %s, got %s", e.Field, e.Type, e.Got)
	case e.Got != "":
		why = fmt.Sprintf("want %s, got %s", e.Type, e.Got)
	default:
		why = fmt.Sprintf("it does not fit %s: %v", e.Type, e.Err)
	}
	return "jetflow: " + e.What + " does not decode: " + why
}

// Is matches ErrPayloadDecode.
func (e *PayloadDecodeError) Is(target error) bool { return target == ErrPayloadDecode }

// Unwrap returns the codec's error.
func (e *PayloadDecodeError) Unwrap() error { return e.Err }
