package orders

import (
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

// Allowed shows the escape hatch.
var Allowed = workflow.New("Allowed", func(ctx workflow.Context, o Order) (time.Time, error) {
	logged := time.Now() //jetflow:nondeterministic-ok fixture: only logged, never decides anything
	//jetflow:nondeterministic-ok fixture: a directive alone on its line allows the next one
	go func() {}()
	for sku := range o.Items { //jetflow:nondeterministic-ok fixture: the order does not matter to this workflow
		workflow.ExecuteStep(ctx, Reserve, sku)
	}
	_ = workflow.Now(ctx) //jetflow:nondeterministic-ok fixture: a trailing directive allows its own line only
	_ = time.Now()        // want `^time.Now in workflow code`

	// want +1 `^//jetflow:nondeterministic-ok needs a reason \(why this line replays the same\), and allows nothing without one$`
	//jetflow:nondeterministic-ok
	_ = time.Now() // want `^time.Now in workflow code`

	// want +1 `^time.Now in workflow code`
	_ = time.Now() //jetflow:nondeterministic-okay is another word

	//jetflow:nondeterministic-ok fixture: allows only the next line

	_ = time.Now() // want `^time.Now in workflow code`
	return logged, nil
})
