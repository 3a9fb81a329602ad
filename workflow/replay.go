package workflow

import (
	"context"
	"errors"
	"fmt"
	"github.com/jetflow-dev/jetflow/internal/runner"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go/jetstream"
)

// load rebuilds a run this worker does not hold: it reads the run record
// and the current execution's history, replays the code against it, and
// queues every decision still without a result to be published again (the
// worker that made it may have died before publishing). It returns nil when
// there is nothing to move: the run is unknown, closed, or of another type.
//
// A run whose record still says pending has no history, except after a crash
// between its first history batch and the record's update; then its first
// commit conflicts and the task loads it again with reread set.
func (w *Worker) load(ctx context.Context, def Registrable, id string, reread bool) (*execution, error) {
	run, rev, err := kv.Get[kv.Run](ctx, w.env.Buckets.Runs, id)
	if errors.Is(err, kv.ErrNotFound) {
		w.log.Warn("jetflow: workflow task for an unknown run; dropped", "workflow_id", id)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if kv.Terminal(run.Status) || run.Workflow != def.Name() {
		return nil, nil
	}
	if run.Format < kv.FormatHistory && len(run.Commands) > 0 {
		return nil, w.refuseLegacy(ctx, &run)
	}
	x := newExecution(w, def, run)
	x.loaded, x.rev = true, rev
	if run.Status == kv.StatusPending && !reread {
		return x, nil // a fresh run: nothing to replay
	}
	if _, err := w.env.Buckets.Steps.Get(ctx, kv.HistoryKey(x.ek, 1)); errors.Is(err, jetstream.ErrKeyNotFound) {
		return x, nil // a fresh execution: nothing to replay
	} else if err != nil {
		return nil, fmt.Errorf("reading the history of %s: %w", id, err)
	}
	h, err := readHistory(ctx, w.env, x.ek)
	if err != nil {
		return nil, err
	}
	last := 0
	for _, b := range h.batches {
		if b.N > last {
			last, x.lastOwner = b.N, b.Owner
		}
	}
	if w.Hooks.RunRebuilt != nil {
		w.Hooks.RunRebuilt(def.Name())
	}
	// A copy that is not returned is let go: its code's goroutine may be
	// waiting already.
	if err := w.recreateTimers(ctx, x, h); err != nil {
		x.kill()
		return nil, err
	}
	if err := x.replayHistory(h); err != nil {
		x.kill()
		return nil, err
	}
	if x.missing > 0 {
		err := w.rerunMissing(ctx, x, h)
		x.kill()
		return nil, err
	}
	// Results recorded whose wake-ups have not reached the history yet:
	// the task delivers them after the signals it receives, in the order a
	// replay of its batch will (signals first), and in position order.
	for seq, res := range h.results {
		if x.pending[seq] != nil {
			x.unseen = append(x.unseen, unseenResult{seq: seq, res: res})
		}
	}
	slices.SortFunc(x.unseen, func(a, b unseenResult) int { return a.seq - b.seq })
	seen := map[int]bool{}
	for _, u := range x.unseen {
		seen[u.seq] = true
	}
	// Decisions without a result: publish them again (deduplicated while
	// the server remembers the first publish; a step that ran already finds
	// its result recorded).
	batchOf := map[int]int{}
	for _, b := range h.batches {
		for _, d := range b.Decisions {
			batchOf[d.Seq] = b.N
		}
	}
	for seq, s := range x.pending {
		switch {
		case seen[seq]:
			// Resolved: delivered by this task.
		case s.task != nil:
			s.task.Batch = batchOf[seq]
			t := *s.task
			t.Republished = true
			x.newSteps = append(x.newSteps, t)
		case s.kind == kv.KindTimer:
			x.newTimers = append(x.newTimers, timerReq{seq: seq, at: s.at})
		case s.child != nil:
			x.newChildren = append(x.newChildren, seq)
		}
	}
	if x.cancel != nil && x.closing == nil {
		// The worker that received the cancellation may have died before
		// passing it on.
		x.cancelChildren()
	}
	return x, nil
}

// errRerunning: the run cannot be rebuilt until a step whose result was
// deleted has run again (its task is published; its result wakes the run).
var errRerunning = errors.New("jetflow: a result the run saw is missing; its step runs again")

// recreateTimers records again the results of fired timers that were
// deleted: a timer the code saw fire has fired.
func (w *Worker) recreateTimers(ctx context.Context, x *execution, h *history) error {
	timers := map[int]kv.Decision{}
	for _, b := range h.batches {
		for _, d := range b.Decisions {
			if d.Kind == kv.KindTimer {
				timers[d.Seq] = d
			}
		}
	}
	for _, b := range h.batches {
		for _, seq := range b.Deliveries {
			d, ok := timers[seq]
			if !ok || h.results[seq] != nil {
				continue
			}
			res := kv.Result{Kind: kv.KindTimer, Name: d.Name, ScheduledAt: d.At, CompletedAt: time.Now().UTC(), Worker: w.cfg.name}
			if _, err := kv.Create(ctx, w.env.Buckets.Steps, kv.StepKey(x.ek, seq), res); err != nil && !errors.Is(err, kv.ErrExists) {
				return fmt.Errorf("recording again the fired timer %s: %w", kv.StepKey(x.ek, seq), err)
			}
			w.log.Warn("jetflow: the result of a fired timer was missing; recorded again", "workflow_id", x.run.ID, "seq", seq)
			h.results[seq] = &res
		}
	}
	return nil
}

// rerunMissing publishes again the step whose result the replay missed
// (same idempotency key: a service that honours it does the work once) and
// says so; the step's result wakes the run, which then replays past it.
func (w *Worker) rerunMissing(ctx context.Context, x *execution, h *history) error {
	s := x.pending[x.missing]
	t := *s.task
	t.Republished = true
	for _, b := range h.batches {
		for _, d := range b.Decisions {
			if d.Seq == t.Seq {
				t.Batch = b.N
			}
		}
	}
	w.log.Warn("jetflow: the result of a step the run saw is missing; running the step again", "workflow_id", x.run.ID, "step", t.Step, "seq", t.Seq)
	w.env.Emit(wire.Event{Event: wire.EventRepaired, Workflow: x.run.Workflow, WorkflowID: x.run.ID, Seq: t.Seq, Step: t.Step, Worker: w.cfg.name,
		Error: "the result of " + t.Step + " was missing; the step runs again with the same idempotency key"})
	x.newSteps = []runner.Task{t}
	x.run.Status = kv.StatusRunning // publish only the task
	x.freshIDs = true
	if err := w.publish(ctx, x); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s step %d", errRerunning, x.run.ID, t.Seq)
}

// replayHistory drives the code through the recorded batches: each batch's
// results are delivered in their order and the code runs until it waits,
// making again the decisions recorded (any other decision is a
// non-determinism error).
func (x *execution) replayHistory(h *history) error {
	for _, b := range h.batches {
		x.recorded = append(x.recorded, b.Decisions...)
	}
	x.replay = true
	defer func() { x.replay = false }()
	for i, b := range h.batches {
		if b.N != i+1 {
			return fmt.Errorf("%w: history of %s has batch %d at position %d", kv.ErrCorrupt, x.run.ID, b.N, i+1)
		}
		delivered := false
		for _, sig := range b.Signals {
			delivered = x.deliverSignal(sig) || delivered
		}
		x.signalsIn = nil
		if x.terminate != nil {
			break // nothing ran after a termination
		}
		for _, seq := range b.Deliveries {
			res := h.results[seq]
			if res == nil {
				if s := x.pending[seq]; s != nil && s.task != nil {
					// A result the code saw was deleted: the replay
					// cannot go past it until the step runs again.
					x.missing = seq
					x.deliveries = nil
					return nil
				}
				return fmt.Errorf("%w: history of %s delivers position %d, which has no result", kv.ErrCorrupt, x.run.ID, seq)
			}
			delivered = x.deliver(seq, res) || delivered
		}
		if i == 0 || delivered {
			x.step()
		}
		x.batches++
		x.histEvents += len(b.Signals) + len(b.Deliveries) + len(b.Decisions)
		if b.Closing != nil {
			x.closing, x.closingRecorded = b.Closing, true
		}
		if x.fatal != nil {
			break
		}
	}
	// A replay that stopped early (a termination, a fatal error) goes on
	// after the last batch recorded, not in the middle, and an ending
	// recorded later is the run's ending.
	for _, b := range h.batches[x.batches:] {
		x.batches++
		x.histEvents += len(b.Signals) + len(b.Deliveries) + len(b.Decisions)
		if b.Closing != nil {
			x.closing, x.closingRecorded = b.Closing, true
		}
	}
	x.deliveries = nil
	if x.fatal == nil && !x.done && x.closing == nil && x.matched < len(x.recorded) {
		d := x.recorded[x.matched]
		if d.Kind == kv.KindVersion {
			return &codeBehindError{WorkflowID: x.run.ID, ChangeID: d.Name, Seq: d.Seq}
		}
		x.fatal = &NonDeterminismError{Workflow: x.run.Workflow, WorkflowID: x.run.ID, Seq: d.Seq,
			Expected: d.Kind + " " + d.Name, Found: "the workflow waiting on " + x.blockedOn}
	}
	var behind *codeBehindError
	if x.closing == nil && errors.As(x.fatal, &behind) {
		return behind
	}
	if x.closing == nil && (x.done || x.fatal != nil) {
		x.closing = x.closingOf()
	}
	return nil
}

// history is one execution's history batches, in order, and its results.
type history struct {
	batches []kv.Batch
	results map[int]*kv.Result
	// retries are the latest retry records by position.
	retries map[int]*kv.Retry
}

// readHistory reads an execution's batches and results with one ephemeral
// pull consumer over their keys: the cost of a cache miss, paid once. (An
// ordered consumer recreates its server-side consumer on every Fetch and
// retries that without a deadline; a plain one with no acks does neither.)
func readHistory(ctx context.Context, env *wire.Env, ek string) (*history, error) {
	_, bucket, _ := kv.BucketNames(env.Names.Prefix)
	prefix := "$KV." + bucket + "." + ek + "."
	stream := "KV_" + bucket
	cons, err := env.JS.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		FilterSubjects:    []string{prefix + "*", prefix + "h.*", prefix + "r.>"},
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 10 * time.Second, // a backstop: deleted below
	})
	if err != nil {
		return nil, fmt.Errorf("reading the history of %s: %w", ek, err)
	}
	// Ephemeral consumers count against the server's limits until they go:
	// a worker rebuilding thousands of runs after a restart must not pile
	// them up.
	defer func() {
		_ = env.JS.DeleteConsumer(context.WithoutCancel(ctx), stream, cons.CachedInfo().Name)
	}()
	info := cons.CachedInfo()
	h := &history{results: map[int]*kv.Result{}, retries: map[int]*kv.Retry{}}
	left := info.NumPending
	for left > 0 {
		batch, err := cons.Fetch(int(min(left, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("reading the history of %s: %w", ek, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, _ := m.Metadata()
			if md != nil {
				left = md.NumPending
			} else {
				left--
			}
			if op := m.Headers().Get("KV-Operation"); op != "" {
				continue // deleted or purged
			}
			key := strings.TrimPrefix(m.Subject(), prefix)
			if rest, ok := strings.CutPrefix(key, "r."); ok {
				var r kv.Retry
				if err := kv.Unmarshal(m.Data(), &r); err != nil {
					return nil, fmt.Errorf("retry record %s.%s: %w", ek, key, err)
				}
				seq, _ := strconv.Atoi(rest[:max(strings.IndexByte(rest, '.'), 0)])
				if old := h.retries[seq]; old == nil || old.Attempt < r.Attempt {
					h.retries[seq] = &r
				}
				continue
			}
			if n, ok := strings.CutPrefix(key, "h."); ok {
				var b kv.Batch
				if err := kv.Unmarshal(m.Data(), &b); err != nil {
					return nil, fmt.Errorf("history batch %s.%s: %w", ek, key, err)
				}
				if i, _ := strconv.Atoi(n); i != b.N {
					return nil, fmt.Errorf("%w: history key %s.%s holds batch %d", kv.ErrCorrupt, ek, key, b.N)
				}
				h.batches = append(h.batches, b)
				continue
			}
			seq, err := strconv.Atoi(key)
			if err != nil {
				continue
			}
			var r kv.Result
			if err := kv.Unmarshal(m.Data(), &r); err != nil {
				return nil, fmt.Errorf("result %s.%s: %w", ek, key, err)
			}
			h.results[seq] = &r
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("reading the history of %s: %w", ek, err)
		}
		if got == 0 {
			return nil, fmt.Errorf("reading the history of %s: %d messages still pending after a fetch returned none", ek, left)
		}
	}
	// Stream order is batch order (batch n+1 is written by a worker that
	// read or wrote batch n); sorting costs nothing and keeps replay safe
	// from anything that reorders the stream.
	slices.SortFunc(h.batches, func(a, b kv.Batch) int { return a.N - b.N })
	return h, nil
}

// refuseLegacy fails a run recorded by a jetflow before the history format:
// its decisions live in the record, which this version does not replay.
func (w *Worker) refuseLegacy(ctx context.Context, run *kv.Run) error {
	msg := fmt.Sprintf("%v: run %s was recorded in format %d (decisions in the run record, jetflow before history batches); this worker replays format %d only. Finish such runs with the jetflow that started them.",
		ErrUnsupportedFormat, run.ID, run.Format, kv.FormatHistory)
	w.log.Error("jetflow: "+msg, "workflow_id", run.ID)
	now := time.Now().UTC()
	return w.updateRun(ctx, run.ID, func(r *kv.Run) bool {
		if kv.Terminal(r.Status) {
			return false
		}
		r.Status, r.ClosedAt, r.UpdatedAt = kv.StatusFailed, now, now
		r.Error = &kv.ErrorInfo{Type: "UnsupportedFormat", Message: msg, NonRetryable: true}
		return true
	})
}
