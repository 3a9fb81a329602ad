package orders

import (
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

// Clock uses every clock and timer function of package time.
var Clock = workflow.New("Clock", func(ctx workflow.Context, d time.Duration) (time.Duration, error) {
	start := time.Now()              // want `^time.Now in workflow code: use workflow.Now\(ctx\), the run's deterministic clock$`
	elapsed := time.Since(start)     // want `^time.Since in workflow code: use workflow.Now\(ctx\).Sub\(t\)$`
	left := time.Until(start.Add(d)) // want `^time.Until in workflow code: use t.Sub\(workflow.Now\(ctx\)\)$`
	time.Sleep(d)                    // want `^time.Sleep in workflow code: use workflow.Sleep\(ctx, d\), a durable timer$`
	<-time.After(d)                  // want `^time.After in workflow code: use workflow.NewTimer\(ctx, d\), a durable timer`
	t := time.NewTimer(d)            // want `^time.NewTimer in workflow code: use workflow.NewTimer\(ctx, d\)`
	defer t.Stop()                   // a method of a timer: the timer was reported
	time.AfterFunc(d, func() {})     // want `^time.AfterFunc in workflow code: use workflow.NewTimer\(ctx, d\)`
	<-time.Tick(d)                   // want `^time.Tick in workflow code: use workflow.Sleep\(ctx, d\) or workflow.NewTimer\(ctx, d\) in a loop`
	tk := time.NewTicker(d)          // want `^time.NewTicker in workflow code: use workflow.Sleep\(ctx, d\) or workflow.NewTimer\(ctx, d\) in a loop`
	tk.Stop()
	now := time.Now // want `^time.Now in workflow code`
	return elapsed + left + now().Sub(start), nil
})

// Timeout is workflow code because it takes a workflow.Context.
func Timeout(ctx workflow.Context, d time.Duration) bool {
	deadline := time.Now().Add(d) // want `^time.Now in workflow code: use workflow.Now\(ctx\)`
	return workflow.Now(ctx).After(deadline)
}

// Deterministic uses jetflow's replacements and time's pure functions.
var Deterministic = workflow.New("Deterministic", func(ctx workflow.Context, d time.Duration) (time.Time, error) {
	start := workflow.Now(ctx)
	if err := workflow.Sleep(ctx, d); err != nil {
		return time.Time{}, err
	}
	timer := workflow.NewTimer(ctx, d)
	if _, err := timer.Get(ctx); err != nil {
		return time.Time{}, err
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(d)
	_ = time.Duration(3) * time.Second
	_, _ = time.Parse(time.RFC3339, "2026-01-01T00:00:00Z")
	return start.Add(workflow.Now(ctx).Sub(at)), nil
})
