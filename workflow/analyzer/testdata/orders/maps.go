package orders

import (
	"maps"
	"slices"

	"example.com/shop/pricing"
	"github.com/jetflow-dev/jetflow/workflow"
)

// Reservations ranges over maps in every way that schedules.
var Reservations = workflow.New("Reservations", func(ctx workflow.Context, o Order) (int, error) {
	for sku := range o.Items { // want `^range over a map that schedules steps or timers in workflow code: map order changes from one replay to the next; range over slices.Sorted\(maps.Keys\(m\)\) instead$`
		workflow.ExecuteStep(ctx, Reserve, sku)
	}
	for range maps.Keys(o.Items) { // want `^range over a map that schedules`
		_ = workflow.Sleep(ctx, 0)
	}
	for _, n := range maps.All(o.Items) { // want `^range over a map that schedules`
		_ = workflow.SideEffect(ctx, func() int { return n })
	}
	saga := workflow.NewSaga(ctx)
	for sku := range o.Items { // want `^range over a map that schedules`
		workflow.AddCompensation(saga, Release, sku)
	}
	for sku := range o.Items { // want `^range over a map that schedules`
		reserveOne(ctx, sku) // through a function of this package
	}
	for sku := range o.Items { // want `^range over a map that schedules`
		_ = pricing.Reserve(ctx, sku) // through a function of another package of the module
	}
	sel := workflow.NewSelector(ctx)
	f := workflow.NewTimer(ctx, 0)
	for sku := range o.Items { // want `^range over a map that schedules`
		sel.AddFuture(f, func() { workflow.ExecuteStep(ctx, Reserve, sku) })
	}
	for range o.Items { // want `^range over a map that schedules`
		_ = workflow.ContinueAsNew(ctx, o)
	}
	return 0, nil
})

func reserveOne(ctx workflow.Context, sku string) {
	workflow.ExecuteStep(ctx, Reserve, sku)
}

// MapsThatDoNotSchedule ranges over maps without scheduling, and schedules
// in the order of sorted keys: nothing to report.
var MapsThatDoNotSchedule = workflow.New("MapsThatDoNotSchedule", func(ctx workflow.Context, o Order) (int, error) {
	total := 0
	for _, n := range o.Items {
		total += pricing.Double(n)
	}
	futures := map[string]workflow.Future[string]{}
	for _, sku := range slices.Sorted(maps.Keys(o.Items)) {
		futures[sku] = workflow.ExecuteStep(ctx, Reserve, sku)
	}
	for sku, f := range futures {
		if _, err := f.Get(ctx); err != nil {
			workflow.GetLogger(ctx).Warn("reservation failed", "sku", sku)
		}
	}
	sel := workflow.NewSelector(ctx)
	for _, f := range futures {
		sel.AddFuture(f, func() { total++ })
	}
	for range futures {
		sel.Select(ctx)
	}
	return total, nil
})
