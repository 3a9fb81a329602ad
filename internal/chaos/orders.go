package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/internal/demo"
	"github.com/jetflow-dev/jetflow/workflow"
)

// order is one run of the order saga and the status its recipe calls for.
type order struct {
	id   string
	kind string
	want string
	in   demo.OrderInput
	// startErr is set when the order could not be started at all.
	startErr error
}

// drawOrders draws n orders from the demo's mix: healthy ones, invalid,
// sold out, flaky inventory, declined payments, shipping down, and the
// primary payment channel down (paid through the fallback, past the shared
// breaker).
func drawOrders(rnd *rand.Rand, n int) []*order {
	out := make([]*order, n)
	for i := range out {
		id := fmt.Sprintf("chaos-%05d", i+1)
		in, r := demo.RandomOrder(rnd, id)
		out[i] = &order{id: id, kind: r.Kind, want: r.Want, in: in}
	}
	return out
}

// startOrders starts the orders at an even pace over window through the
// client. A start that fails (the server is down) is retried until it
// succeeds or deadline passes: Start is idempotent on the workflow ID, so a
// start that did happen but whose answer was lost is not started twice.
func startOrders(ctx context.Context, c *workflow.Client, orders []*order, window time.Duration, deadline time.Time, started func()) {
	every := window / time.Duration(len(orders))
	begin := time.Now()
	var wg sync.WaitGroup
	for i, o := range orders {
		if err := sleepUntil(ctx, begin.Add(time.Duration(i)*every)); err != nil {
			o.startErr = err
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.startErr = startOne(ctx, c, o, deadline)
			if o.startErr == nil {
				started()
			}
		}()
	}
	wg.Wait()
}

func startOne(ctx context.Context, c *workflow.Client, o *order, deadline time.Time) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := workflow.Start(actx, c, demo.OrderOrchestration, o.id, o.in)
		cancel()
		if err == nil {
			return nil
		}
		refused := errors.Is(err, workflow.ErrInvalidID) || errors.Is(err, workflow.ErrPayloadTooLarge)
		if refused || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("starting %s: %w", o.id, err)
		}
		if err := sleepUntil(ctx, time.Now().Add(200*time.Millisecond)); err != nil {
			return fmt.Errorf("starting %s: %w", o.id, err)
		}
	}
}
