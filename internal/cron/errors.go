package cron

import (
	"errors"
	"fmt"
)

// ErrInvalid matches (errors.Is) every *SpecError.
var ErrInvalid = errors.New("cron: invalid schedule spec")

// Field names the part of a spec or expression that a SpecError is about.
type Field string

// The fields of a cron expression, then the other parts of a Spec.
const (
	FieldExpr       Field = "expression" // the expression as a whole: empty, wrong field count, unknown descriptor
	FieldSecond     Field = "second"
	FieldMinute     Field = "minute"
	FieldHour       Field = "hour"
	FieldDayOfMonth Field = "day of month"
	FieldMonth      Field = "month"
	FieldDayOfWeek  Field = "day of week"
	FieldEvery      Field = "every" // the duration of @every
	FieldExprs      Field = "expressions"
	FieldTimeZone   Field = "time zone"
	FieldEnd        Field = "end"
	FieldJitter     Field = "jitter"
)

// SpecError is returned by Parse and New for input they refuse. It names
// the field, so that a command line can print it as is:
//
//	cron: "0 0 25 * * *": hour: 25 is out of range 0-23
type SpecError struct {
	// Expr is the expression at fault, "" when the error is about another
	// part of the spec (its time zone, end or jitter).
	Expr  string
	Field Field
	// Value is the offending text of the field, "" when it is missing.
	Value string
	// Reason completes the sentence that starts with Value.
	Reason string
}

func (e *SpecError) Error() string {
	msg := "cron: "
	if e.Expr != "" {
		msg += fmt.Sprintf("%q: ", e.Expr)
	}
	msg += string(e.Field) + ": "
	if e.Value != "" {
		msg += e.Value + " "
	}
	return msg + e.Reason
}

// Is matches ErrInvalid.
func (e *SpecError) Is(target error) bool { return target == ErrInvalid }
