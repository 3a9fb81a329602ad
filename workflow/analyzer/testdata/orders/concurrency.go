package orders

import (
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

// FanOut starts goroutines and selects on channels.
var FanOut = workflow.New("FanOut", func(ctx workflow.Context, ids []string) (int, error) {
	results := make(chan string, len(ids))
	for _, id := range ids {
		go func() { results <- id }() // want `^go statement in workflow code: start steps with workflow.ExecuteStep, which returns a future at once, and Get them \(they run in parallel\), or wait for the first with workflow.NewSelector$`
	}
	n := 0
	select { // want `^select statement in workflow code: use workflow.NewSelector\(ctx\), whose choice is recorded and replayed$`
	case <-results:
		n++
	default:
	}
	return n, nil
})

// Parallel does the same with futures and a selector: nothing to report.
var Parallel = workflow.New("Parallel", func(ctx workflow.Context, ids []string) (int, error) {
	fs := make([]workflow.Future[string], len(ids))
	for i, id := range ids {
		fs[i] = workflow.ExecuteStep(ctx, Reserve, id)
	}
	timeout := workflow.NewTimer(ctx, time.Minute)
	n := 0
	sel := workflow.NewSelector(ctx)
	for _, f := range fs {
		sel.AddFuture(f, func() { n++ })
	}
	sel.AddFuture(timeout, func() {})
	sel.Select(ctx)
	return n, nil
})
