// Package pricing is a helper package of the module: its functions are
// described to the packages that call them by facts.
package pricing

import (
	"context"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// Hold is a step.
var Hold = steps.New("Hold", func(ctx context.Context, sku string) (string, error) { return sku, nil })

// Quote is not workflow code in this package, so nothing is reported here;
// a workflow that calls it is reported at the call.
func Quote(amount int) int { // want Quote:"reaches time.Now"
	return amount + surcharge()
}

func surcharge() int {
	if time.Now().Hour() < 6 {
		return 1
	}
	return 0
}

// Reserve schedules a step: a map range that calls it schedules.
func Reserve(ctx workflow.Context, sku string) error { // want Reserve:"schedules"
	_, err := workflow.ExecuteStep(ctx, Hold, sku).Get(ctx)
	return err
}

// Audited is workflow code here (it takes a workflow.Context): its clock is
// reported here, not again where it is called.
func Audited(ctx workflow.Context) int64 {
	return time.Now().Unix() // want `time.Now in workflow code: use workflow.Now\(ctx\)`
}

// Allowed reads the clock on a line a directive allows: it has no fact.
func Allowed() int64 {
	return time.Now().Unix() //jetflow:nondeterministic-ok fixture: the directive travels with the code
}

// Double is pure.
func Double(n int) int { return 2 * n }

// Table is a rate table.
type Table struct{ Base float64 }

// Rate reads the clock: a method is described by a fact like a function.
func (t Table) Rate() float64 { // want Rate:"reaches time.Now"
	if time.Now().Weekday() == time.Sunday {
		return 2 * t.Base
	}
	return t.Base
}
