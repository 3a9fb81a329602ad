package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

// scheduleReport is what `jetflow bench --shape schedule --json` prints: how
// late after its nominal time each tick of an @every 1s schedule was acted
// on. Fired is the worker's decision (the "fired" event, written to the
// schedule's record), Started the run's creation, Closed the end of the
// run (one step).
type scheduleReport struct {
	Shape         string  `json:"shape"`
	Ticks         int     `json:"ticks"`
	Server        string  `json:"server"`
	FiredP50ms    float64 `json:"fired_p50_ms"`
	FiredP99ms    float64 `json:"fired_p99_ms"`
	FiredMaxms    float64 `json:"fired_max_ms"`
	StartedP50ms  float64 `json:"started_p50_ms"`
	StartedP99ms  float64 `json:"started_p99_ms"`
	StartedMaxms  float64 `json:"started_max_ms"`
	ClosedP50ms   float64 `json:"closed_p50_ms"`
	ClosedP99ms   float64 `json:"closed_p99_ms"`
	Runs          int     `json:"runs"`
	Missed        int     `json:"missed"`
	Skipped       int     `json:"skipped"`
	SecondsPassed float64 `json:"seconds"`
}

// waitTickRun waits for the run a tick fired to close; the fired event
// comes as the run is decided, a moment before it is started.
func waitTickRun(ctx context.Context, c *workflow.Client, id string) (workflow.Record, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, err := c.Wait(ctx, id)
		if !errors.Is(err, workflow.ErrNotFound) || time.Now().After(deadline) {
			return rec, err
		}
		select {
		case <-ctx.Done():
			return rec, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runScheduleBench creates an @every 1s schedule of a one-step workflow,
// served by the bench's worker, takes ticks of its fired events, reads the
// runs' records once they are over, then deletes the schedule.
func runScheduleBench(ctx context.Context, nc *nats.Conn, c *workflow.Client, prefix, server string, ticks int, asJSON bool) error {
	id := fmt.Sprintf("bench-delay-%d", time.Now().UnixNano()%1_000_000)
	fired := make(chan *nats.Msg, ticks+16)
	sub, err := nc.ChanSubscribe(wire.NewNames(prefix).ScheduleEventSubject(id, wire.EventScheduleFired), fired)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	action, err := workflow.NewScheduleAction(benchSequential, 1)
	if err != nil {
		return err
	}
	// allow_all: a run still open at the next tick (it never should be)
	// must not turn the tick into a skip the delays leave out.
	pol := workflow.SchedulePolicies{Overlap: workflow.OverlapAllowAll}
	spec := workflow.ScheduleSpec{Cron: []string{"@every 1s"}}
	for {
		err = c.CreateSchedule(ctx, id, spec, action, pol)
		var se *workflow.ScheduleError
		if !errors.As(err, &se) || se.Field != "workflow" {
			break
		}
		// The worker has not made its consumer yet.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return err
	}
	t0 := time.Now()
	progress := newProgress(os.Stderr, !asJSON)
	progress.label = "ticks"
	progress.start(ticks)
	var evs []wire.ScheduleEvent
	for len(evs) < ticks {
		select {
		case m := <-fired:
			var ev wire.ScheduleEvent
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				return fmt.Errorf("fired event %q: %w", m.Data, err)
			}
			evs = append(evs, ev)
			progress.tick(len(evs))
		case <-time.After(30 * time.Second):
			return fmt.Errorf("schedule %s: no tick fired for 30 s (%d of %d)", id, len(evs), ticks)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	progress.done()
	d, err := c.DescribeSchedule(ctx, id)
	if err != nil {
		return err
	}
	r := scheduleReport{Shape: "schedule", Ticks: ticks, Server: server, Runs: d.Started, Missed: d.Missed, Skipped: d.Skipped, SecondsPassed: time.Since(t0).Seconds()}
	var toFired, toStarted, toClosed []time.Duration
	for _, ev := range evs {
		toFired = append(toFired, ev.Time.Sub(ev.Nominal))
		rec, err := waitTickRun(ctx, c, ev.WorkflowID)
		if err != nil {
			return fmt.Errorf("run %s of tick %s: %w", ev.WorkflowID, ev.Nominal.Format(time.RFC3339), err)
		}
		toStarted = append(toStarted, rec.CreatedAt.Sub(ev.Nominal))
		toClosed = append(toClosed, rec.ClosedAt.Sub(ev.Nominal))
	}
	// Deleted once every run it fired is over: a run the schedule decided
	// (the fired event) is started just after, and a delete in between
	// would drop it.
	if err := c.DeleteSchedule(ctx, id); err != nil {
		return err
	}
	r.FiredP50ms, r.FiredP99ms, r.FiredMaxms = percentile(toFired, 0.50), percentile(toFired, 0.99), percentile(toFired, 1)
	r.StartedP50ms, r.StartedP99ms, r.StartedMaxms = percentile(toStarted, 0.50), percentile(toStarted, 0.99), percentile(toStarted, 1)
	r.ClosedP50ms, r.ClosedP99ms = percentile(toClosed, 0.50), percentile(toClosed, 0.99)
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("jetflow bench --shape schedule --ticks %d (%s server, one worker, @every 1s, a one-step workflow)\n", ticks, server)
	fmt.Printf("  nominal time -> fired event   p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n", r.FiredP50ms, r.FiredP99ms, r.FiredMaxms)
	fmt.Printf("  nominal time -> run started   p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n", r.StartedP50ms, r.StartedP99ms, r.StartedMaxms)
	fmt.Printf("  nominal time -> run completed p50 %7.1f ms  p99 %7.1f ms\n", r.ClosedP50ms, r.ClosedP99ms)
	fmt.Printf("  %d ticks in %.1f s: %d runs, %d missed, %d skipped\n", ticks, r.SecondsPassed, r.Runs, r.Missed, r.Skipped)
	return nil
}
