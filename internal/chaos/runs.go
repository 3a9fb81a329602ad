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

// run is one workflow the harness starts: an order saga, or a run of one of
// the exercise workflows (a shape).
type run struct {
	id string
	// kind is the order's recipe (demo.Mix) or the shape (shapeLong, ...).
	kind     string
	workflow string
	// Exactly one of order and shape is set.
	order *orderSpec
	shape *shapeSpec
	// startErr is set when the run could not be started at all.
	startErr error
	// started is closed once the start was attempted (startErr says how
	// it went): a driver that signals or cancels the run waits for it.
	started chan struct{}

	// mu is held while the run is started, and by a fault that must come
	// before the run starts (a forged deduplication ID); began says that
	// the start was attempted.
	mu    sync.Mutex
	began bool
}

// orderSpec is an order saga's input and the status its recipe calls for.
type orderSpec struct {
	in   demo.OrderInput
	want string
}

// drawRuns draws the runs of cfg in the order they are started: orders from
// the demo's mix — healthy ones, invalid, sold out, flaky inventory,
// declined payments, shipping down, and the primary payment channel down
// (paid through the fallback, past the shared breaker) — with the exercise
// shapes among them: the long runs early in the window, so that they live
// through most faults, the others anywhere in its first three quarters.
func drawRuns(rnd *rand.Rand, cfg *Config) []*run {
	shapes := drawShapes(rnd, cfg)
	out := make([]*run, 0, cfg.Workflows)
	for i := range cfg.Workflows - len(shapes) {
		id := fmt.Sprintf("chaos-%05d", i+1)
		in, r := demo.RandomOrder(rnd, id)
		out = append(out, &run{id: id, kind: r.Kind, workflow: demo.OrderOrchestration.Name(), order: &orderSpec{in: in, want: r.Want}})
	}
	for _, s := range shapes {
		within := 3 * len(out) / 4
		switch s.kind {
		case shapeLong:
			within = len(out) / 4
		case shapeSignals:
			// Early, so that their signals spread over most of the faults.
			within = len(out) / 3
		}
		at := rnd.IntN(max(within, 1))
		out = append(out[:at], append([]*run{s}, out[at:]...)...)
	}
	for _, r := range out {
		r.started = make(chan struct{})
	}
	return out
}

// startRuns starts the runs at an even pace over window through the
// client, from begin on: run i at begin + i×window/len(runs). A start that
// fails (the server is down) is retried until it succeeds or deadline
// passes: Start is idempotent on the workflow ID, so a start that did
// happen but whose answer was lost is not started twice.
func startRuns(ctx context.Context, c *workflow.Client, runs []*run, begin time.Time, window time.Duration, deadline time.Time, started func()) {
	every := window / time.Duration(len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		if err := sleepUntil(ctx, begin.Add(time.Duration(i)*every)); err != nil {
			r.startErr = err
			close(r.started)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.started)
			r.mu.Lock()
			r.began = true
			r.startErr = startOne(ctx, c, r, deadline)
			r.mu.Unlock()
			if r.startErr == nil {
				started()
			}
		}()
	}
	wg.Wait()
}

func startOne(ctx context.Context, c *workflow.Client, r *run, deadline time.Time) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := r.start(actx, c)
		cancel()
		if err == nil {
			return nil
		}
		refused := errors.Is(err, workflow.ErrInvalidID) || errors.Is(err, workflow.ErrPayloadTooLarge)
		if refused || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("starting %s: %w", r.id, err)
		}
		if err := sleepUntil(ctx, time.Now().Add(200*time.Millisecond)); err != nil {
			return fmt.Errorf("starting %s: %w", r.id, err)
		}
	}
}

// start starts the run once.
func (r *run) start(ctx context.Context, c *workflow.Client) error {
	var err error
	switch {
	case r.order != nil:
		_, err = workflow.Start(ctx, c, demo.OrderOrchestration, r.id, r.order.in)
	case r.shape.long != nil:
		_, err = workflow.Start(ctx, c, demo.LongChain, r.id, *r.shape.long)
	case r.shape.fan != nil:
		_, err = workflow.Start(ctx, c, demo.FanOut, r.id, *r.shape.fan)
	case r.shape.race != nil:
		_, err = workflow.Start(ctx, c, demo.StepOrTimer, r.id, *r.shape.race)
	case r.shape.collect != nil:
		_, err = workflow.Start(ctx, c, demo.SignalCollector, r.id, *r.shape.collect)
	case r.shape.cancel != nil:
		_, err = workflow.Start(ctx, c, demo.CancelChain, r.id, *r.shape.cancel)
	}
	return err
}

// nextOrder returns the first order not started yet, locked: the caller
// does what must come before its start, then unlocks it. Nil when every
// order began. An order whose lock is taken is being started.
func nextOrder(runs []*run) *run {
	for _, r := range runs {
		if r.order == nil || !r.mu.TryLock() {
			continue
		}
		if !r.began {
			return r
		}
		r.mu.Unlock()
	}
	return nil
}
