package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/workflow"
	"github.com/nats-io/nats.go"
)

// The scenario of issue 11: a schedule starts the payment reconciliation
// on every tick. It runs after the others, so that it has their ledger to
// reconcile: terminate_stuck leaves its order charged and never shipped.

// ScheduleReport is what scheduled_reconciliation saw of its schedule.
type ScheduleReport struct {
	ID      string `json:"id"`
	Cron    string `json:"cron"`
	Overlap string `json:"overlap"`
	// Expected are the charges the ledger held, when the schedule was
	// created, with neither a refund nor a shipment for their order.
	Expected []UnshippedCharge `json:"expected_refunds"`
	// Runs are the runs the schedule started before it was paused, oldest
	// first; Statuses counts them by status.
	Runs     []ScheduledRun `json:"runs"`
	Statuses map[string]int `json:"statuses"`
	// Refunds are the refunds the ledger gained while the schedule ran.
	Refunds []ScheduledRefund `json:"refunds"`
	// StartedAtPause and StartedAfter are the runs the schedule's
	// description counted once it was paused, and WatchedMS later.
	StartedAtPause int     `json:"started_at_pause"`
	StartedAfter   int     `json:"started_after"`
	WatchedMS      float64 `json:"watched_ms"`
	// Events counts the schedule's events by name, as published on
	// jetflow.schedule.<id>.<event> until it was deleted.
	Events  map[string]int `json:"events"`
	Deleted bool           `json:"deleted"`
}

// ScheduledRun is one run the schedule started.
type ScheduledRun struct {
	WorkflowID string    `json:"workflow_id"`
	Tick       time.Time `json:"tick"`
	Status     string    `json:"status"`
	// Refunded are the orders whose charge the run refunded, by its output.
	Refunded []string `json:"refunded"`
}

// ScheduledRefund is a refund the ledger gained while the schedule ran.
type ScheduledRefund struct {
	OrderID       string  `json:"order_id"`
	TransactionID string  `json:"transaction_id"`
	Amount        float64 `json:"amount"`
	// Run is the run whose RefundPayment step made it.
	Run string `json:"run"`
}

const (
	// reconcileCron is the demo's timetable; the README shows the nightly one.
	reconcileCron = "@every 1s"
	reconcileTick = time.Second
	// reconcileTicks is how many runs the scenario waits for before it
	// pauses the schedule.
	reconcileTicks = 3
)

func scheduleScenarios() []Scenario {
	return []Scenario{
		{Name: "scheduled_reconciliation", Expected: fmt.Sprintf("a schedule %q (overlap allow_all) starts %s on each tick: %d ticks → %d runs, each under its tick's ID, completed; "+
			"the charges the earlier scenarios left standing (neither shipped nor refunded: terminate_stuck's) refunded exactly once across the runs, nothing else refunded; "+
			"paused, no run starts in the %s after; deleted", reconcileCron, ReconcilePayments.Name(), reconcileTicks, reconcileTicks, reconcileWatch),
			run: runScheduledReconciliation},
	}
}

// reconcileWatch is how long the paused schedule is watched: two ticks and
// a half.
const reconcileWatch = 2*reconcileTick + reconcileTick/2

// runScheduledReconciliation creates the schedule, waits for its runs,
// pauses it, watches that nothing more starts, deletes it, and checks the
// ledger's refunds against what it held before.
func runScheduledReconciliation(ctx context.Context, env *Env, sc Scenario) Result {
	id := env.id(sc.Name)
	rep := &ScheduleReport{ID: id, Cron: reconcileCron, Overlap: string(workflow.OverlapAllowAll), Runs: []ScheduledRun{}, Statuses: map[string]int{},
		Refunds: []ScheduledRefund{}, Events: map[string]int{}}
	r := Result{Scenario: sc.Name, Status: "error", Compensations: []string{}, Attempts: map[string]int{}, Steps: []StepRun{}, Schedule: rep}
	fail := func(format string, args ...any) Result {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
		return r
	}
	timeout := env.RunTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	before, err := env.Services.Ledger.Effects(sctx)
	if err != nil {
		return fail("reading the ledger: %v", err)
	}
	rep.Expected = standingCharges(before)

	events, stop, err := env.watchSchedule(id)
	if err != nil {
		return fail("%v", err)
	}
	defer stop()

	action, err := workflow.NewScheduleAction(ReconcilePayments, ReconcileInput{})
	if err != nil {
		return fail("%v", err)
	}
	spec := workflow.ScheduleSpec{Cron: []string{reconcileCron}}
	pol := workflow.SchedulePolicies{Overlap: workflow.OverlapAllowAll}
	if err := env.createSchedule(sctx, id, spec, action, pol); err != nil {
		return fail("creating schedule %s: %v", id, err)
	}
	// Whatever happens below, the schedule does not outlive the scenario.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = env.Client.DeleteSchedule(dctx, id)
	}()

	if err := waitStarted(sctx, env, id, reconcileTicks); err != nil {
		return fail("%v", err)
	}
	if err := env.Client.PauseSchedule(sctx, id, "the demo saw its runs"); err != nil {
		return fail("pausing: %v", err)
	}
	d, err := env.Client.DescribeSchedule(sctx, id)
	if err != nil {
		return fail("describing the paused schedule: %v", err)
	}
	rep.StartedAtPause = d.Started
	if d.Started > len(d.Recent) {
		r.Problems = append(r.Problems, fmt.Sprintf("%d runs started, the description keeps the last %d", d.Started, len(d.Recent)))
	}
	// The runs, oldest first, each waited for.
	var first OrderRun
	var ticks []time.Time
	for i := len(d.Recent) - 1; i >= 0; i-- {
		sr := d.Recent[i]
		run := ScheduledRun{WorkflowID: sr.WorkflowID, Tick: sr.Nominal, Refunded: []string{}}
		if env.OnRun != nil {
			env.OnRun(sc.Name, sr.WorkflowID)
		}
		out, status, err := env.waitReconcile(sctx, sr.WorkflowID)
		run.Status = status
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("run %s: %v", sr.WorkflowID, err))
		}
		for _, c := range out.Refunded {
			run.Refunded = append(run.Refunded, c.OrderID)
		}
		rep.Runs = append(rep.Runs, run)
		rep.Statuses[status]++
		ticks = append(ticks, sr.Nominal)
		if want := id + "-" + sr.Nominal.UTC().Format("20060102T150405Z"); sr.WorkflowID != want {
			r.Problems = append(r.Problems, fmt.Sprintf("run %s of the tick at %s, want ID %s", sr.WorkflowID, sr.Nominal.UTC().Format(time.RFC3339Nano), want))
		}
		if first.WorkflowID == "" {
			first = OrderRun{WorkflowID: sr.WorkflowID, RunStatus: status}
			// Read now: a deployment with a short retention may purge it
			// while the scenario watches the paused schedule.
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if first.History, err = env.Client.History(hctx, first.WorkflowID); err != nil {
				r.Problems = append(r.Problems, fmt.Sprintf("the history of %s: %v", first.WorkflowID, err))
			}
			cancel()
		}
	}
	if len(rep.Runs) < reconcileTicks {
		r.Problems = append(r.Problems, fmt.Sprintf("%d runs, want %d or more", len(rep.Runs), reconcileTicks))
	}
	if n := rep.Statuses[kv.StatusCompleted]; n != len(rep.Runs) {
		r.Problems = append(r.Problems, fmt.Sprintf("runs by status %v, want all %d completed", rep.Statuses, len(rep.Runs)))
	}
	// One run per tick: every tick its own second, one after the other.
	for i := 1; i < len(ticks); i++ {
		if gap := ticks[i].Sub(ticks[i-1]); gap != reconcileTick {
			r.Problems = append(r.Problems, fmt.Sprintf("ticks %s and %s are %s apart, want %s (one run per tick, none skipped)",
				ticks[i-1].UTC().Format(time.TimeOnly), ticks[i].UTC().Format(time.TimeOnly), gap, reconcileTick))
		}
	}
	for _, t := range ticks {
		if !t.Equal(t.Truncate(reconcileTick)) {
			r.Problems = append(r.Problems, fmt.Sprintf("tick %s is not on a whole second (@every is aligned to the epoch)", t.UTC().Format(time.RFC3339Nano)))
		}
	}

	// Paused: no run starts while two ticks and a half go by.
	if err := pause(sctx, reconcileWatch); err != nil {
		return fail("watching the paused schedule: %v", err)
	}
	rep.WatchedMS = float64(reconcileWatch.Milliseconds())
	d, err = env.Client.DescribeSchedule(sctx, id)
	if err != nil {
		return fail("describing the schedule after the watch: %v", err)
	}
	rep.StartedAfter = d.Started
	if d.Started != rep.StartedAtPause || !d.Paused || len(d.NextFires) != 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("paused with %d runs, %d after %s (paused: %v, next fires %d); want no more and none due", rep.StartedAtPause, d.Started, reconcileWatch, d.Paused, len(d.NextFires)))
	}
	if err := env.Client.DeleteSchedule(sctx, id); err != nil {
		return fail("deleting: %v", err)
	}
	_, err = env.Client.DescribeSchedule(sctx, id)
	rep.Deleted = errors.Is(err, workflow.ErrNotFound)
	if !rep.Deleted {
		r.Problems = append(r.Problems, fmt.Sprintf("describing the deleted schedule: %v, want not found", err))
	}
	rep.Events = events()
	if rep.Events[eventFired] != rep.StartedAfter || rep.Events[eventPaused] != 1 {
		r.Problems = append(r.Problems, fmt.Sprintf("events %v: want %s once per run started (%d) and %s once", rep.Events, eventFired, rep.StartedAfter, eventPaused))
	}

	r.Problems = append(r.Problems, env.checkRefunds(sctx, rep, before)...)

	// The table's row is the first run, the one that found the charges.
	if first.WorkflowID != "" {
		row := resultOf(sc, first)
		r.WorkflowID, r.Status, r.Attempts, r.Steps = row.WorkflowID, row.Status, row.Attempts, row.Steps
	}
	return r
}

// Schedule events the scenario counts.
const (
	eventFired  = "fired"
	eventPaused = "paused"
)

// standingCharges are the charges of effects whose order shipped nothing
// and which nothing refunded, found order by order (not with
// UnshippedCharges, the code under test).
func standingCharges(effects []Effect) []UnshippedCharge {
	out := []UnshippedCharge{}
	seen := map[string]bool{}
	for _, e := range effects {
		if e.Kind != EffectCharge || seen[e.OrderID] {
			continue
		}
		seen[e.OrderID] = true
		c := Count(ForOrder(effects, e.OrderID))
		if c.Charged > c.Refunded && c.Shipped == 0 {
			out = append(out, UnshippedCharge{OrderID: e.OrderID, TransactionID: e.Ref, Amount: e.Amount, ChargedAt: e.At})
		}
	}
	return out
}

// checkRefunds compares the refunds the ledger gained since before with
// the charges that were standing: each of those refunded once, in full,
// nothing else.
func (e *Env) checkRefunds(ctx context.Context, rep *ScheduleReport, before []Effect) []string {
	after, err := e.Services.Ledger.Effects(ctx)
	if err != nil {
		return []string{fmt.Sprintf("reading the ledger: %v", err)}
	}
	old := map[string]bool{}
	for _, x := range before {
		old[x.Key] = true
	}
	orderOf := map[string]string{}
	for _, x := range after {
		if x.Kind == EffectCharge {
			orderOf[x.Ref] = x.OrderID
		}
	}
	var p []string
	for _, x := range after {
		if old[x.Key] || x.Kind != EffectRefund {
			continue
		}
		rep.Refunds = append(rep.Refunds, ScheduledRefund{OrderID: orderOf[x.Undoes], TransactionID: x.Undoes, Amount: x.Amount, Run: x.Run})
		if !slices.ContainsFunc(rep.Expected, func(c UnshippedCharge) bool { return c.TransactionID == x.Undoes }) {
			p = append(p, fmt.Sprintf("refunded %s of order %s, which was not standing", x.Undoes, orderOf[x.Undoes]))
		}
		if !strings.HasPrefix(x.Run, rep.ID+"-") {
			p = append(p, fmt.Sprintf("refund of %s made by %q, not by a run of the schedule", x.Undoes, x.Run))
		}
	}
	for _, c := range rep.Expected {
		var n int
		var amount float64
		for _, x := range after {
			if x.Kind == EffectRefund && x.Undoes == c.TransactionID {
				n++
				amount += x.Amount
			}
		}
		if n != 1 || cents(amount) != cents(c.Amount) {
			p = append(p, fmt.Sprintf("order %s: charge %s of %.2f refunded %d times (%.2f), want once in full", c.OrderID, c.TransactionID, c.Amount, n, amount))
		}
	}
	return p
}

// createSchedule creates the schedule, waiting for a worker to serve its
// workflow type first: a demo that runs this scenario alone may ask before
// its workers have come up.
func (e *Env) createSchedule(ctx context.Context, id string, spec workflow.ScheduleSpec, action workflow.ScheduleAction, pol workflow.SchedulePolicies) error {
	for {
		err := e.Client.CreateSchedule(ctx, id, spec, action, pol)
		var se *workflow.ScheduleError
		if err == nil || !errors.As(err, &se) || se.Field != "workflow" {
			return err
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("%w (%v)", err, se)
		}
	}
}

// waitStarted waits until the schedule has started n runs.
func waitStarted(ctx context.Context, env *Env, id string, n int) error {
	for {
		d, err := env.Client.DescribeSchedule(ctx, id)
		if err != nil {
			return fmt.Errorf("waiting for %d runs of schedule %s: %w", n, id, err)
		}
		if d.Started >= n {
			return nil
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for %d runs of schedule %s (%d so far): %w", n, id, d.Started, err)
		}
	}
}

// waitReconcile waits for a run the schedule started: its record may come a
// moment after the schedule counted it (the decision is recorded first).
func (e *Env) waitReconcile(ctx context.Context, id string) (ReconcileOutput, string, error) {
	for {
		_, err := e.Client.Record(ctx, id)
		if err == nil {
			break
		}
		if !errors.Is(err, workflow.ErrNotFound) {
			return ReconcileOutput{}, "error", err
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return ReconcileOutput{}, "not started", err
		}
	}
	out, err := workflow.Attach(e.Client, ReconcilePayments, id).Result(ctx)
	var re *workflow.RunError
	switch {
	case err == nil:
		return out, kv.StatusCompleted, nil
	case errors.As(err, &re):
		return out, re.Status, err
	}
	return out, "error", err
}

// watchSchedule counts the schedule's events by name until stop.
func (e *Env) watchSchedule(id string) (counts func() map[string]int, stop func(), err error) {
	var mu sync.Mutex
	n := map[string]int{}
	sub, err := e.NC.Subscribe(e.prefix()+".schedule."+id+".*", func(m *nats.Msg) {
		var ev struct {
			Event string `json:"event"`
		}
		if json.Unmarshal(m.Data, &ev) != nil || ev.Event == "" {
			return
		}
		mu.Lock()
		n[ev.Event]++
		mu.Unlock()
	})
	if err != nil {
		return nil, nil, fmt.Errorf("watching the schedule's events: %w", err)
	}
	// A round trip, so that the subscription is in place before the
	// schedule exists.
	if err := e.NC.Flush(); err != nil {
		return nil, nil, fmt.Errorf("watching the schedule's events: %w", err)
	}
	counts = func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(n)
	}
	return counts, func() { _ = sub.Unsubscribe() }, nil
}
