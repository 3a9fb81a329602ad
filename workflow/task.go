package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/tracing"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// A workflow task moves one run: it hands the code what happened (a start,
// results, fired timers), lets it run until it waits, appends what it saw
// and decided to the run's history with one create-only write, and then
// publishes the steps and timers it decided. The first writer of a history
// batch wins, so a run has one writer at a time without a lock; a worker
// that loses (its copy of the run was stale) drops its copy and rebuilds it
// from the history.

// wakeup is one reason to move a run, waiting in the run's inbox.
type wakeup struct {
	reason string
	exec   int
	seq    int
	// res is a result recorded by this very process (trusted); results
	// named by messages are read from the bucket.
	res *kv.Result
	// early is set for a timer task that came before its time: the
	// timer's recorded fire time, and the task to schedule again for it.
	early     time.Time
	earlyTask *wire.WorkflowTask
	earlySubj string
	// inc is the incarnation a start hint names: a cached run of another
	// incarnation is a closed run whose ID a new run has taken.
	inc string
	// asked is the owner already asked to take this wake-up, who did not;
	// refused lists the workers asked since (a run's new holder, a
	// claimant) that did not either.
	asked   string
	refused []string
	// forwarded: another worker handed this wake-up over; it is not handed
	// on again. notYet: the asker keeps it, for it names a position this
	// copy does not know yet (its history read is behind), or this worker
	// no longer holds the run.
	forwarded bool
	notYet    bool
	// redelivered: the task's message came again (its first delivery's
	// worker was slow, paused or dead), so another worker may be moving
	// the run for it.
	redelivered bool
	done        chan struct{}
	err         error
}

// forwardable is the request that hands a task's wake-ups to the worker
// to, which holds the run (or claimed it): every wake-up of the task
// (signals, results and timers of the execution x is at), and every result
// the rebuild of x found recorded but not yet in its history, so the
// worker that takes them leaves none undelivered (their own wake-ups may
// be lost: the step recorded its result before waking the run). Not when
// one of them was handed over already or offered to to before, or names a
// position x does not know.
func forwardable(x *execution, items []*wakeup, to string) (wire.WorkflowTask, bool) {
	if len(items) == 0 || to == "" || len(items)+len(x.unseen) > maxHandOver {
		return wire.WorkflowTask{}, false
	}
	exec := max(x.run.Exec, 1)
	var wakes []wire.Wake
	seen := map[int]bool{}
	signal := false
	for _, it := range items {
		if it.asked == to || slices.Contains(it.refused, to) || it.forwarded || (it.exec > 0 && it.exec != exec) {
			return wire.WorkflowTask{}, false
		}
		switch {
		case it.reason == wire.ReasonStart && it.seq == 0:
			wakes = append(wakes, wire.Wake{Reason: it.reason}) // moving the run is all it asks
		case it.reason == wire.ReasonSignal:
			if !signal {
				signal = true // the worker that takes it reads every signal waiting
				wakes = append(wakes, wire.Wake{Reason: it.reason})
			}
		case (it.reason == wire.ReasonResult || it.reason == wire.ReasonTimer) && it.seq > 0 && it.seq <= x.seq:
			if !seen[it.seq] {
				seen[it.seq] = true
				wakes = append(wakes, wire.Wake{Reason: it.reason, Seq: it.seq})
			}
		default:
			return wire.WorkflowTask{}, false
		}
	}
	for _, u := range x.unseen {
		if !seen[u.seq] {
			seen[u.seq] = true
			wakes = append(wakes, wire.Wake{Reason: wire.ReasonResult, Seq: u.seq})
		}
	}
	return wire.WorkflowTask{WorkflowID: x.run.ID, Workflow: x.run.Workflow, Reason: wakes[0].Reason, Seq: wakes[0].Seq, Exec: exec,
		Also: wakes[1:]}, true
}

// withoutAsked copies items without the owner their messages named.
func withoutAsked(items []*wakeup) []*wakeup {
	out := make([]*wakeup, len(items))
	for i, it := range items {
		c := *it
		c.asked = ""
		out[i] = &c
	}
	return out
}

// maxHandOver bounds the wake-ups one owner request hands over; a worker
// with more moves the run itself.
const maxHandOver = 1000

// allForwarded reports whether every wake-up of a task was handed over by
// another worker.
func allForwarded(items []*wakeup) bool {
	for _, it := range items {
		if !it.forwarded {
			return false
		}
	}
	return len(items) > 0
}

// askedElsewhere reports whether a wake-up named another worker as the
// run's owner, which did not take it: that worker may have moved the run
// since this one last did (or the name is older than this worker's own
// last batch, which one read of the history tells).
func (w *Worker) askedElsewhere(items []*wakeup) bool {
	for _, it := range items {
		if it.asked != "" && it.asked != w.instance && !it.forwarded {
			return true
		}
	}
	return false
}

// behind reports whether the history of x's execution holds batches that
// x does not (another worker moved the run since this copy did), and which
// worker wrote the last one.
func (w *Worker) behind(ctx context.Context, x *execution) (bool, string, error) {
	b, ok, err := lastBatch(ctx, w.env, x.ek)
	if err != nil {
		return false, "", err
	}
	return ok && b.N > x.batches, b.Owner, nil
}

// handOver asks owner to move the run for t: ErrHandedOver when it did, an
// errOwnerUnsure when it could not be asked (try again shortly), nil when
// the task is this worker's to do.
func (w *Worker) handOver(ctx context.Context, owner string, t wire.WorkflowTask) error {
	switch w.askOwner(ctx, owner, t) {
	case moved:
		return ErrHandedOver
	case unsure:
		return fmt.Errorf("%w: the owner of %s could not be asked", errOwnerUnsure, t.WorkflowID)
	}
	return nil
}

// wakeupsOf says what brought a task, for the log: the reasons, with the
// position of each, and "local" for a result this process recorded.
func wakeupsOf(items []*wakeup) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = it.reason
		if it.seq > 0 {
			parts[i] += ":" + strconv.Itoa(it.seq)
		}
		if it.res != nil {
			parts[i] += ":local"
		}
	}
	return strings.Join(parts, ",")
}

// logConflict is logged for every history conflict (the chaos harness
// counts these lines).
const logConflict = "jetflow: history conflict; rebuilding the run from its history"

var (
	errConflict = errors.New("jetflow: run changed concurrently")
	// errStale: a wake-up names a position this copy of the run never
	// decided, so another worker moved the run since; rebuild it.
	errStale = errors.New("jetflow: cached run is behind its history")
	// errNotYet: a wake-up names a result this worker cannot read yet.
	errNotYet = errors.New("jetflow: result not readable yet")
	// errOwnerUnsure: the worker that may hold the run could not be asked,
	// this worker's connection failing over; try again shortly.
	errOwnerUnsure = errors.New("jetflow: reconnecting")
)

// maxNotYet is how many times a workflow task may name a result that is not
// there before it is parked: a replica behind its leader catches up within
// moments (the waits add up to 28 s), a forged hint never does.
const maxNotYet = 8

// taskTimeout bounds one workflow task, its retries after conflicts
// included.
const taskTimeout = 30 * time.Second

// historyChunk bounds the decisions of one history batch, so that a task
// deciding thousands of steps at once still writes messages of a sane size.
const historyChunk = 2000

// wake moves the run id for wks (one or more wake-ups) and returns once
// what they brought is recorded in the run's history (or the task failed).
// Wake-ups that arrive while another task moves the run are taken by the
// next task together.
func (w *Worker) wake(ctx context.Context, def Registrable, id string, wks ...*wakeup) error {
	for _, wk := range wks {
		wk.done = make(chan struct{})
	}
	ent := w.runs.acquire(id)
	defer w.runs.release(ent)
	ent.qmu.Lock()
	ent.box = append(ent.box, wks...) // taken together: one task does them all
	ent.qmu.Unlock()
	ent.mu.Lock()
	defer ent.mu.Unlock()
	select {
	case <-wks[0].done:
		return wks[0].err
	default:
	}
	ent.qmu.Lock()
	items := ent.box
	ent.box = nil
	ent.qmu.Unlock()
	err := w.task(ctx, def, ent, items)
	for _, it := range items {
		it.err = err
		close(it.done)
	}
	return err
}

func (w *Worker) task(ctx context.Context, def Registrable, ent *runEntry, items []*wakeup) error {
	if allForwarded(items) {
		w.thawed()
		if w.runs.current(ent) == nil {
			// Handed over by a worker that took this one for the run's
			// holder, which it no longer is (the run was evicted, or
			// declared stale after a freeze: the request may have waited
			// out the freeze, and its asker moved the run meanwhile). The
			// asker moves it, rather than both.
			for _, it := range items {
				it.notYet = true
			}
			return nil
		}
	}
	start := time.Now()
	for _, it := range items {
		if it.reason == wire.ReasonRepair {
			// The sweeper found the run stuck: rebuild it from its
			// history, which publishes again whatever it waits on.
			w.runs.set(ent, nil)
			ent.reread, ent.repair = true, true
		}
	}
	// A task that cannot finish (a server failing over) gives up and is
	// retried, rather than holding the run and the slot behind it.
	ctx, cancel := context.WithTimeout(ctx, taskTimeout)
	defer cancel()
	if w.Hooks.WorkflowTaskStarted != nil {
		w.Hooks.WorkflowTaskStarted(def.Name())
	}
	var err error
	for try := 0; try < 5; try++ {
		err = w.move(ctx, def, ent, items)
		if errors.Is(err, errStale) || errors.Is(err, errConflict) {
			// Someone else wrote this run's history: the next load reads
			// it even for a record that still says pending.
			ent.reread = true
		}
		if errors.Is(err, errStale) {
			w.runs.set(ent, nil)
			continue
		}
		if errors.Is(err, ErrHandedOver) {
			break // its owner moved it
		}
		if !errors.Is(err, errConflict) {
			break
		}
		if w.Hooks.WorkflowTaskConflict != nil {
			w.Hooks.WorkflowTaskConflict(def.Name())
		}
		w.log.Info(logConflict, "workflow", def.Name(), "workflow_id", ent.id, "wakeups", wakeupsOf(items), "cached", ent.cached)
		w.runs.set(ent, nil)
	}
	if err != nil && !errors.Is(err, ErrHandedOver) {
		// What this copy of the run did is not all recorded: rebuild it
		// from the history on the next task.
		w.runs.set(ent, nil)
	}
	if w.Hooks.WorkflowTask != nil {
		w.Hooks.WorkflowTask(def.Name(), time.Since(start), err)
	}
	if errors.Is(err, ErrHandedOver) {
		return nil // the owner's task is the one traced
	}
	w.traceTask(ent, items, start, err)
	return err
}

// move is one attempt at a workflow task: decide, then commit.
func (w *Worker) move(ctx context.Context, def Registrable, ent *runEntry, items []*wakeup) error {
	w.thawed()
	freezes := w.freezes.Load()
	x := w.runs.current(ent)
	if x != nil && w.askedElsewhere(items) {
		// The wake-up named another owner, which did not take it: this
		// copy may be one another worker took over since. One read tells,
		// and names the worker that holds the run now. (A hand-over from
		// here skips the rebuild, so results whose own wake-ups were lost
		// wait for the sweeper rather than for this rebuild.)
		stale, owner, err := w.behind(ctx, x)
		if err != nil {
			return err
		}
		if stale {
			x.lastOwner = owner
			t, ok := forwardable(x, items, owner)
			w.runs.set(ent, nil) // kills this copy
			ent.reread = true
			if ok && owner != w.instance {
				if err := w.handOver(ctx, owner, t); err != nil {
					return err
				}
				for _, it := range items {
					it.refused = append(it.refused, owner) // not asked again after the rebuild
				}
			}
			x = nil
		}
	}
	ent.cached = x != nil // for the conflict log
	if x != nil && otherIncarnation(x, items) {
		w.runs.set(ent, nil)
		x = nil
	}
	if x == nil {
		var err error
		if x, err = w.load(ctx, def, ent.id, ent.reread); err != nil || x == nil {
			return err
		}
		x.freshIDs, ent.repair = ent.repair, false
		if t, ok := forwardable(x, items, x.lastOwner); ok && x.lastOwner != w.instance {
			// Another worker wrote the run's last batch and may hold it
			// still (this wake-up named an owner that no longer has it, or
			// none): hand the wake-up over rather than race it.
			if err := w.handOver(ctx, x.lastOwner, t); err != nil {
				x.kill() // this copy is not kept
				return err
			}
		}
		w.runs.set(ent, x)
	} else {
		x.loaded = false
	}
	if w.contended(x, items, x.loaded) {
		if err := w.takeOver(ctx, x, items); err != nil {
			w.runs.set(ent, nil) // kills this copy
			ent.reread = true
			return err
		}
	}
	if x.run.TraceParent != "" {
		ent.trace = taskTrace{parent: x.run.TraceParent, state: x.run.TraceState, workflow: x.run.Workflow, exec: max(x.run.Exec, 1)}
	}
	if err := w.decide(ctx, x, items); err != nil {
		return err
	}
	w.thawed() // counts a freeze nobody noticed yet
	if w.freezes.Load() != freezes {
		// Frozen in the middle of this task (whoever noticed it first):
		// another worker may have moved the run meanwhile. Start over from
		// the history.
		return errStale
	}
	if err := w.commit(ctx, x); err != nil {
		return err
	}
	if x.closing != nil {
		if err := w.closeRun(ctx, x); err != nil {
			return err
		}
		w.runs.set(ent, nil)
	}
	return nil
}

// contended reports whether another worker may be moving x while this one
// does: this worker dropped its runs a moment ago (a freeze or a failover:
// tasks delivered while it stood still come in late, and went to other
// workers meanwhile), a task came again, or (x rebuilt from its history)
// another worker wrote its last batch and did not take the wake-ups
// (paused, dead, cut off). Then every worker that gets a wake-up for the
// run at once moves it, and all but one of their moves would be lost to
// the history's create-only write, their code run for nothing. A copy
// this worker holds is not contended by its own last batch's writer: which
// worker wrote a batch before it is not kept up to date.
func (w *Worker) contended(x *execution, items []*wakeup, rebuilt bool) bool {
	if rebuilt && x.lastOwner != "" && x.lastOwner != w.instance {
		return true
	}
	for _, it := range items {
		if it.redelivered {
			return true
		}
	}
	return w.mayRace()
}

// takeOver claims x before this worker moves it, when it is contended. The
// first claim of the execution after its last batch (or before its first)
// wins; a worker that finds another worker's claim hands it the task's
// wake-ups, as to an owner (the claimant holds the run from before it
// claims). The claimant moves the run; when it does not take them (it died
// since, or let the run go), this worker reads the history again and moves
// the run itself. A claim that cannot be written or read does not stop the
// task: the history's write still decides.
func (w *Worker) takeOver(ctx context.Context, x *execution, items []*wakeup) error {
	key := kv.TakeoverKey(x.ek, x.batches)
	_, err := kv.Create(ctx, w.env.Buckets.Steps, key, kv.Takeover{Owner: w.instance, Worker: w.cfg.name, At: time.Now().UTC()})
	if !errors.Is(err, kv.ErrExists) {
		return nil
	}
	c, _, err := kv.Get[kv.Takeover](ctx, w.env.Buckets.Steps, key)
	if err != nil || c.Owner == w.instance {
		return nil
	}
	// The owner a task's message named may have said no before it claimed
	// the run: it is asked again (not a worker this task asked already).
	t, ok := forwardable(x, withoutAsked(items), c.Owner)
	if !ok {
		return nil
	}
	if err := w.handOver(ctx, c.Owner, t); err != nil {
		return err
	}
	for _, it := range items {
		it.refused = append(it.refused, c.Owner) // not offered again on a retry of this task
	}
	// The claimant did not take them: it let the run go (its task failed,
	// or the run closed), it is gone, or it did not answer in time. Read
	// the history again, for it may have moved the run meanwhile; the
	// claim stays its own (every key of the bucket is written once), so a
	// retry of this task moves the run without asking it again.
	return errStale
}

// otherIncarnation reports whether a wake-up is for another run of the ID
// than the one x holds.
func otherIncarnation(x *execution, items []*wakeup) bool {
	for _, it := range items {
		if it.inc != "" && it.inc != x.run.Inc {
			return true
		}
	}
	return false
}

// decide hands the wake-ups to the code and lets it run until it waits.
func (w *Worker) decide(ctx context.Context, x *execution, items []*wakeup) error {
	for _, it := range items {
		// What an earlier try of this task found no longer holds.
		it.notYet, it.early = false, time.Time{}
	}
	if x.closing != nil {
		return nil
	}
	run := !x.started || len(x.deliveries) > 0
	// Signals first, in the order the server accepted them, then results:
	// replay delivers a batch's signals before its results too. The first
	// task of an execution that continued as new reads them too: a signal
	// whose wake-up reached the execution before it, as it closed, waits
	// for this one.
	readSignals := !x.started && x.run.Exec > 1
	for _, it := range items {
		readSignals = readSignals || it.reason == wire.ReasonSignal && (it.exec <= 0 || it.exec == max(x.run.Exec, 1))
	}
	if readSignals {
		n, err := w.receiveSignals(ctx, x) // one read takes every signal waiting
		if err != nil {
			return err
		}
		if n > 0 {
			run = true
		}
	}
	// Then results: those the rebuild found recorded, then the wake-ups'.
	for _, u := range x.unseen {
		if x.deliver(u.seq, u.res) {
			run = true
		}
	}
	x.unseen = nil
	for _, it := range items {
		if it.reason == wire.ReasonSignal {
			continue
		}
		if it.exec > max(x.run.Exec, 1) {
			// The record read is behind the message (a replica behind
			// its leader): not done yet.
			if it.forwarded {
				it.notYet = true // the asker keeps it
				continue
			}
			return fmt.Errorf("%w: execution %d of %s", errNotYet, it.exec, x.run.ID)
		}
		if it.exec > 0 && it.exec != max(x.run.Exec, 1) {
			continue // a task of an execution that continued as new
		}
		if it.seq > x.seq {
			if !x.loaded {
				return errStale
			}
			if it.forwarded {
				// The worker that handed it over read the position in
				// the history, which this copy has not: it goes back.
				it.notYet = true
			}
			continue // a hint with nothing behind it
		}
		s := x.pending[it.seq]
		if it.seq <= 0 || s == nil {
			continue // a start, or a result seen before
		}
		res := it.res
		switch {
		case it.reason == wire.ReasonTimer && s.kind == kv.KindTimer:
			// The fire time is the recorded one, whatever the message says.
			if time.Until(s.at) > 20*time.Millisecond {
				it.early = s.at
				it.earlySubj = w.env.Names.ScheduleSubject(x.ek, s.seq, 0)
				it.earlyTask = &wire.WorkflowTask{WorkflowID: x.run.ID, Workflow: x.run.Workflow, Reason: wire.ReasonTimer, Seq: s.seq, FireAt: s.at, Exec: x.run.Exec, Owner: w.instance}
				continue
			}
			fired, err := w.fireTimer(ctx, x, s)
			if err != nil {
				return err
			}
			res = fired
		case res == nil:
			r, _, err := kv.Get[kv.Result](ctx, w.env.Buckets.Steps, kv.StepKey(x.ek, it.seq))
			if errors.Is(err, kv.ErrNotFound) {
				// Not there yet as this replica sees it (direct gets may
				// be served by a replica behind the leader), or a hint
				// with nothing behind it: the wake-up is not done, and
				// its message is not acked.
				if it.forwarded {
					it.notYet = true // the asker keeps it
					continue
				}
				return fmt.Errorf("%w: %s", errNotYet, kv.StepKey(x.ek, it.seq))
			}
			if err != nil {
				return fmt.Errorf("reading result %s: %w", kv.StepKey(x.ek, it.seq), err)
			}
			res = &r
		}
		if x.deliver(it.seq, res) {
			run = true
		}
		w.issued.drop(kv.StepKey(x.ek, it.seq))
	}
	if x.terminate != nil {
		// Ended at once: the code does not run again.
		x.closing = x.closingOf()
		return nil
	}
	if run {
		x.step()
	}
	var behind *codeBehindError
	if errors.As(x.fatal, &behind) {
		return behind
	}
	if x.done || x.fatal != nil {
		x.closing = x.closingOf()
	}
	return nil
}

// fireTimer records that the timer at s fired (first write wins).
func (w *Worker) fireTimer(ctx context.Context, x *execution, s *slot) (*kv.Result, error) {
	key := kv.StepKey(x.ek, s.seq)
	res := kv.Result{Kind: kv.KindTimer, Name: s.name, ScheduledAt: s.at, CompletedAt: time.Now().UTC(), Worker: w.cfg.name}
	_, err := kv.Create(ctx, w.env.Buckets.Steps, key, res)
	if errors.Is(err, kv.ErrExists) {
		got, _, gerr := kv.Get[kv.Result](ctx, w.env.Buckets.Steps, key)
		return &got, gerr
	}
	if err != nil {
		return nil, fmt.Errorf("recording timer %s: %w", key, err)
	}
	w.env.Emit(wire.Event{Event: wire.EventTimerFired, Workflow: x.run.Workflow, WorkflowID: x.run.ID, Seq: s.seq, Worker: w.cfg.name})
	w.traceTimer(&x.run, s)
	return &res, nil
}

// closingOf says how the execution ends, once its code returned or failed.
func (x *execution) closingOf() *kv.Closing {
	if x.terminate != nil {
		return terminated(*x.terminate)
	}
	if x.fatal != nil {
		info := errorInfo(x.fatal)
		return &kv.Closing{Status: kv.StatusFailed, Error: &info}
	}
	err := x.err
	var can *ContinueAsNewError
	if errors.As(err, &can) {
		if x.compensationErr == nil {
			if tooLarge := x.tooLarge("the input of the next execution", len(can.input)); tooLarge != nil {
				return tooLarge
			}
			return &kv.Closing{Status: kv.StatusContinuedAsNew, ContinueInput: can.input}
		}
		err = nil
	}
	if x.compensationErr != nil {
		var ce *CompensationError
		if err == nil || !errors.As(err, &ce) {
			err = x.compensationErr
		}
	}
	if tooLarge := x.tooLarge("the output", len(x.run.Input)+len(x.out)); tooLarge != nil && (err == nil || len(x.out) > 0) {
		return tooLarge
	}
	if err == nil {
		return &kv.Closing{Status: kv.StatusCompleted, Output: x.out}
	}
	info := errorInfo(err)
	cl := &kv.Closing{Status: statusFor(err), Error: &info}
	if cl.Status == kv.StatusCompensationFailed {
		cl.Output = x.out
	}
	return cl
}

// chunk is how many of the decisions still to commit fit in one batch: at
// most historyChunk, and at most half of max_payload in size (side effect
// values can be up to a quarter).
func (x *execution) chunk() int {
	limit := int(x.w.env.MaxPayload / 2)
	size := 0
	for i, d := range x.decisions {
		size += 64 + len(d.Name) + len(d.Value) + len(d.Policy) + len(d.Digest)
		if i == historyChunk || i > 0 && limit > 0 && size > limit {
			return i
		}
	}
	return len(x.decisions)
}

// recordHeadroom is what a run record needs besides its input and output.
const recordHeadroom = 4096

// tooLarge is the closing of a run whose record would not fit in one message
// once it holds size bytes of input and output: the run fails with a
// PayloadTooLarge error instead of never closing. Nil when it fits.
func (x *execution) tooLarge(what string, size int) *kv.Closing {
	limit := x.w.env.MaxPayload - recordHeadroom
	if x.w.env.MaxPayload <= 0 || int64(size) <= limit {
		return nil
	}
	return &kv.Closing{Status: kv.StatusFailed, Error: &kv.ErrorInfo{Type: TypePayloadTooLarge, NonRetryable: true,
		Message: fmt.Sprintf("%s of run %s would make its record %d bytes with the input, over the %d it can hold (the server's max_payload is %d)",
			what, x.run.ID, size, limit, x.w.env.MaxPayload)}}
}

// commit appends what this task saw and decided to the history, then
// publishes the steps and timers it decided and announces them. A crash
// between the two is repaired by the worker that rebuilds the run: it
// publishes every decision still without a result again, with the same
// deduplication IDs.
func (w *Worker) commit(ctx context.Context, x *execution) error {
	closing := x.closing
	if x.closingRecorded {
		closing = nil
	}
	if len(x.decisions) == 0 && len(x.deliveries) == 0 && len(x.signalsIn) == 0 && closing == nil && x.batches > 0 {
		return w.publish(ctx, x)
	}
	now := time.Now().UTC()
	for first := true; first || len(x.decisions) > 0 || len(x.deliveries) > 0 || closing != nil; first = false {
		n := x.chunk()
		b := kv.Batch{N: x.batches + 1, Signals: x.signalsIn, Deliveries: x.deliveries, Decisions: x.decisions[:n], More: n < len(x.decisions), Worker: w.cfg.name, At: now,
			Seq: x.seq, WaitingOn: x.blockedOn, Owner: w.instance}
		if !b.More {
			b.Closing = closing
		}
		if b.N == 1 {
			b.Inc = x.run.Inc
		}
		if _, err := kv.Create(ctx, w.env.Buckets.Steps, kv.HistoryKey(x.ek, b.N), b); err != nil {
			if errors.Is(err, kv.ErrExists) {
				return errConflict
			}
			return fmt.Errorf("recording history of %s: %w", x.run.ID, err)
		}
		x.batches++
		x.histEvents += len(b.Signals) + len(b.Deliveries) + len(b.Decisions)
		x.signalsIn = nil
		for _, d := range b.Decisions {
			if s := x.pending[d.Seq]; s != nil && s.task != nil {
				s.task.Batch = b.N
			}
		}
		x.deliveries = nil
		x.decisions = x.decisions[n:]
		if b.Closing != nil {
			x.closingRecorded = true
			closing = nil
		}
	}
	x.decisions = nil
	return w.publish(ctx, x)
}

// publish sends the steps and timers recorded as decided, then the events.
func (w *Worker) publish(ctx context.Context, x *execution) error {
	run := &x.run
	announce := func(ev wire.Event) {
		ev.Workflow, ev.WorkflowID, ev.Worker = run.Workflow, run.ID, w.cfg.name
		w.env.Emit(ev)
	}
	if run.Status == kv.StatusPending {
		if err := w.markRunning(ctx, x); err != nil {
			return err
		}
		announce(wire.Event{Event: wire.EventStarted, Status: kv.StatusRunning})
	}
	var acks []wire.PubAck
	// The run's trace context goes with its step and timer tasks (nil, and
	// no headers, when it has none).
	hdr := tracing.Header(run.TraceParent, run.TraceState)
	for i := range x.newSteps {
		st := &x.newSteps[i]
		if x.pending[st.Seq] == nil {
			continue // resolved meanwhile
		}
		st.Owner, st.Batch = w.instance, x.pending[st.Seq].task.Batch
		w.issued.put(st)
		data, err := kv.Marshal(st)
		if err != nil {
			return err
		}
		if !st.Republished {
			announce(wire.Event{Event: wire.EventStepScheduled, Seq: st.Seq, Step: st.Step, Attempt: 1, Compensation: st.Compensation})
		}
		id := wire.MsgID(x.ek, st.Seq, 1, "step")
		if x.freshIDs {
			id += ".again." + strconv.FormatInt(time.Now().UnixNano(), 36)
		}
		a, err := w.env.PublishAsyncHeader(w.env.Names.StepSubject(st.Step), id, hdr, data)
		if err != nil {
			return err
		}
		acks = append(acks, a)
	}
	if err := w.env.WaitAcks(ctx, acks); err != nil {
		return err
	}
	if x.halt != "" {
		// Core NATS: a runner that misses it finishes the attempt, whose
		// result the run no longer waits for.
		_ = w.env.NC.Publish(w.env.Names.HaltSubject(x.ek), []byte(x.halt))
		x.halt = ""
	}
	for _, seq := range x.newChildren {
		if s := x.pending[seq]; s != nil && s.child != nil {
			if err := w.startChild(ctx, x, s); err != nil {
				return err
			}
		}
	}
	for _, seq := range x.childCancels {
		if s := x.pending[seq]; s != nil && s.child != nil {
			if err := w.signalChild(ctx, x, s, kv.SignalCancel, "parent "+x.run.ID+" canceled"); err != nil {
				return err
			}
		}
	}
	n := w.env.Names
	for _, tr := range x.newTimers {
		if x.pending[tr.seq] == nil {
			continue
		}
		data, err := kv.Marshal(wire.WorkflowTask{WorkflowID: run.ID, Workflow: run.Workflow, Reason: wire.ReasonTimer, Seq: tr.seq, FireAt: tr.at, Exec: run.Exec, Owner: w.instance})
		if err != nil {
			return err
		}
		announce(wire.Event{Event: wire.EventTimerScheduled, Seq: tr.seq, Step: "Sleep", RetryInMS: float64(time.Until(tr.at).Microseconds()) / 1000})
		if err := w.env.PublishAtHeader(ctx, n.ScheduleSubject(x.ek, tr.seq, 0), n.WorkflowSubject(run.Workflow), wire.MsgID(x.ek, tr.seq, 0, "timer"), hdr, data, tr.at); err != nil {
			return err
		}
	}
	waiting := ""
	for _, st := range x.newSteps {
		if x.pending[st.Seq] != nil && !w.env.Served(ctx, n.StepConsumer(st.Step)) {
			waiting = "no worker has registered step " + st.Step + "; it runs when one does"
			announce(wire.Event{Event: wire.EventNoWorker, Seq: st.Seq, Step: st.Step, Error: waiting})
		}
	}
	if waiting != x.run.Waiting && (waiting != "" || len(x.newSteps) > 0) {
		// Rare: only while a step has no worker at all.
		if err := w.updateRun(ctx, run.ID, func(r *kv.Run) bool {
			if kv.Terminal(r.Status) || r.Waiting == waiting {
				return false
			}
			r.Waiting = waiting
			return true
		}); err != nil {
			return err
		}
		x.run.Waiting = waiting
	}
	for _, ev := range x.events {
		announce(ev)
	}
	x.newSteps, x.newTimers, x.events, x.freshIDs = nil, nil, nil, false
	x.newChildren, x.childCancels = nil, nil
	return nil
}

// markRunning records in the run record that the run started.
func (w *Worker) markRunning(ctx context.Context, x *execution) error {
	// A run started outside any trace (the CLI, a schedule, a client
	// without tracing) gets one of its own here, when this worker traces:
	// a root span for its start, recorded with the run like a caller's.
	var parent, state string
	if x.run.TraceParent == "" {
		parent, state = w.rootTrace(ctx, &x.run)
	}
	run, rev, err := w.updateRunFrom(ctx, x.run.ID, &x.run, x.rev, func(r *kv.Run) bool {
		if r.Status != kv.StatusPending || max(r.Exec, 1) != max(x.run.Exec, 1) {
			return false
		}
		r.Status, r.StartedAt, r.UpdatedAt, r.Waiting, r.Format = kv.StatusRunning, time.Now().UTC(), time.Now().UTC(), "", kv.FormatHistory
		if r.TraceParent == "" {
			r.TraceParent, r.TraceState = parent, state
		}
		return true
	})
	if err != nil {
		return err
	}
	x.run, x.rev = run, rev
	return nil
}

// updateRun applies fn to the run record with a revision check, again while
// another writer (a client, another worker) changes it meanwhile. fn returns
// false to leave the record as it is.
func (w *Worker) updateRun(ctx context.Context, id string, fn func(*kv.Run) bool) error {
	_, _, err := w.updateRunFrom(ctx, id, nil, 0, fn)
	return err
}

// updateRunFrom is updateRun starting from a copy of the record this worker
// last read or wrote at revision rev (nil: read it first), so the common
// case costs one write; it returns the record as written and its revision.
func (w *Worker) updateRunFrom(ctx context.Context, id string, known *kv.Run, rev uint64, fn func(*kv.Run) bool) (kv.Run, uint64, error) {
	for try := 0; ; try++ {
		var run kv.Run
		if known != nil && try == 0 {
			run = *known
		} else {
			var err error
			if run, rev, err = kv.Get[kv.Run](ctx, w.env.Buckets.Runs, id); err != nil {
				return run, 0, err
			}
		}
		if !fn(&run) {
			return run, rev, nil
		}
		nrev, err := kv.Update(ctx, w.env.Buckets.Runs, id, run, rev)
		if err == nil {
			return run, nrev, nil
		}
		if !errors.Is(err, kv.ErrConflict) || try >= 10 {
			return run, 0, err
		}
	}
}

// closeRun makes the run record say what the history already does: the run
// ended, or continued as a new execution (which is then started).
func (w *Worker) closeRun(ctx context.Context, x *execution) error {
	cl := x.closing
	now := time.Now().UTC()
	exec := max(x.run.Exec, 1)
	// Both before the record says the run ended, so that a crash in
	// between is finished by whoever closes the run again.
	if err := w.closeChildren(ctx, x, cl); err != nil {
		return err
	}
	if x.run.Parent != nil && cl.Status != kv.StatusContinuedAsNew {
		if err := notifyParent(ctx, w.env, &x.run, cl, now, w.cfg.name); err != nil {
			return err
		}
	}
	var closed kv.Run
	changed := false
	_, _, err := w.updateRunFrom(ctx, x.run.ID, &x.run, x.rev, func(r *kv.Run) bool {
		// Called again after a conflict: only the last call counts.
		changed = false
		if max(r.Exec, 1) != exec || kv.Terminal(r.Status) {
			return false
		}
		changed = true
		r.UpdatedAt, r.Waiting, r.CurrentStep, r.Format = now, "", "", kv.FormatHistory
		if cl.Status == kv.StatusContinuedAsNew {
			r.Exec, r.SigSeq = exec+1, x.sigSeq
			r.Input, r.Output, r.Error = cl.ContinueInput, nil, nil
			r.Status, r.StartedAt = kv.StatusRunning, now
		} else {
			r.Status, r.Output, r.Error, r.ClosedAt = cl.Status, cl.Output, cl.Error, now
		}
		closed = *r
		return true
	})
	if err != nil || !changed {
		return err
	}
	started := x.run.CreatedAt
	if exec > 1 {
		started = x.run.StartedAt
	}
	w.traceRun(&closed, exec, started, now, cl)
	if cl.Status == kv.StatusContinuedAsNew {
		ev := wire.Event{Event: wire.EventContinuedAsNew, Workflow: x.run.Workflow, WorkflowID: x.run.ID, Status: kv.StatusContinuedAsNew, Worker: w.cfg.name}
		w.env.Emit(ev)
		if err := w.schedulePurge(ctx, &closed, exec, now); err != nil {
			return err
		}
		return w.env.PublishWorkflowTask(ctx, wire.WorkflowTask{WorkflowID: x.run.ID, Workflow: x.run.Workflow, Reason: wire.ReasonStart, Exec: exec + 1}, "")
	}
	if cl.Status == kv.StatusCanceled || cl.Status == kv.StatusTerminated {
		// Retries and timers still scheduled would only run for nothing.
		// (Before the purge schedule below, which shares the prefix.)
		if err := w.env.PurgeSchedules(ctx, x.ek); err != nil {
			w.log.Warn("jetflow: dropping the schedules of a closed run", "workflow_id", x.run.ID, "err", err)
		}
	}
	if err := w.schedulePurge(ctx, &closed, 0, now); err != nil {
		return err
	}
	if closed.Schedule != "" {
		// Ticks of its schedule may wait for it to end (overlap buffer).
		if err := w.env.PublishWorkflowTask(ctx, wire.WorkflowTask{WorkflowID: closed.Schedule, Workflow: closed.Workflow, Reason: wire.ReasonSchedule}, ""); err != nil {
			return err
		}
	}
	ev := wire.Event{Event: cl.Status, Workflow: x.run.Workflow, WorkflowID: x.run.ID, Status: cl.Status, Worker: w.cfg.name,
		DurationMS: float64(now.Sub(closed.CreatedAt).Microseconds()) / 1000}
	if cl.Error != nil {
		ev.Error, ev.ErrorType = cl.Error.Message, cl.Error.Type
		if cl.Error.Type == "NonDeterminism" || cl.Error.Type == TypeUnsupportedVersion {
			// The failure a deployment most needs to see.
			w.log.Error("jetflow: run failed: its code no longer replays its history", "workflow", x.run.Workflow,
				"workflow_id", x.run.ID, "seq", cl.Error.Seq, "err", cl.Error.Message)
		}
		if cl.Error.Type == "NonDeterminism" {
			w.env.Emit(wire.Event{Event: wire.EventNonDeterminism, Workflow: x.run.Workflow, WorkflowID: x.run.ID, Seq: cl.Error.Seq, Error: cl.Error.Message, ErrorType: cl.Error.Type, Worker: w.cfg.name})
		}
	}
	w.env.Emit(ev)
	if w.Hooks.RunClosed != nil {
		w.Hooks.RunClosed(x.run.Workflow, cl.Status, now.Sub(closed.CreatedAt))
	}
	return nil
}

// statusFor maps the error a workflow returned to the run's final status.
func statusFor(err error) string {
	var ce *CompensationError
	if errors.As(err, &ce) {
		return kv.StatusCompensationFailed
	}
	if errors.Is(err, ErrCanceled) {
		return kv.StatusCanceled
	}
	return kv.StatusFailed
}

// errorInfo stores an error a run ended with.
func errorInfo(err error) kv.ErrorInfo {
	var nd *NonDeterminismError
	if errors.As(err, &nd) {
		d, _ := kv.Marshal(nd)
		return kv.ErrorInfo{Type: "NonDeterminism", Message: nd.Error(), NonRetryable: true, Seq: nd.Seq, Details: d}
	}
	var ce *CompensationError
	if errors.As(err, &ce) {
		d, _ := kv.Marshal(ce)
		return kv.ErrorInfo{Type: "CompensationFailed", Message: ce.Error(), NonRetryable: true, Step: ce.Step, Seq: ce.Seq, Details: d}
	}
	var ve *VersionError
	if errors.As(err, &ve) {
		return kv.ErrorInfo{Type: TypeUnsupportedVersion, Message: ve.Error(), NonRetryable: true}
	}
	var hl *HistoryLimitError
	if errors.As(err, &hl) {
		return kv.ErrorInfo{Type: "HistoryLimit", Message: hl.Error(), NonRetryable: true}
	}
	var child *ChildError
	if errors.As(err, &child) && !errors.Is(err, ErrCanceled) {
		return kv.ErrorInfo{Type: TypeChildFailed, Message: child.Error(), NonRetryable: true}
	}
	var cancel *CanceledError
	if errors.As(err, &cancel) {
		return kv.ErrorInfo{Type: "Canceled", Message: cancel.Error(), NonRetryable: true}
	}
	var pe *PayloadTooLargeError
	if errors.As(err, &pe) {
		return kv.ErrorInfo{Type: TypePayloadTooLarge, Message: pe.Error(), NonRetryable: true}
	}
	var uw *UnwindError
	if errors.As(err, &uw) {
		return kv.ErrorInfo{Type: "Unwound", Message: uw.Error(), NonRetryable: true}
	}
	var sterr *StepError
	if errors.As(err, &sterr) {
		// The record's Type is the step error's, and everything that
		// prints the record prints the type before the message: the
		// message leaves it out, so it is said once.
		msg := strings.Replace(err.Error(), sterr.Error(), sterr.untyped(), 1)
		return kv.ErrorInfo{Type: sterr.Err.Type, Message: msg, NonRetryable: sterr.Err.NonRetryable, Step: sterr.Step, Seq: sterr.Seq}
	}
	se := steps.AsError(err)
	return kv.ErrorInfo{Type: se.Type, Message: se.Message, NonRetryable: se.NonRetryable, Details: se.Details}
}
