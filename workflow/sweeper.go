package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go/jetstream"
)

// The sweeper finds runs that are owed progress and did not get it, and
// repairs what it can. Messages can be lost where the engine cannot see it:
// a Start that died between its record and its task, a step task or a
// retry schedule lost with a store that filled up, a result deleted by
// hand. Each such run would wait for ever with nobody told.
//
// One worker at a time sweeps (a lease in the runs bucket); it reads the run
// records once, in pages, then only those written since and, again, the
// open runs it found (see sweeper.cursor), and for every open run whose
// last progress is older than the grace period, looks at what it waits on:
//
//   - a run still pending with no history: its start task is published again;
//   - a result recorded that the run never saw: the run is woken for it;
//   - a result the run saw that is gone: the run is rebuilt, which runs the
//     step again with the same idempotency key;
//   - a timer past due whose schedule is gone: it is fired;
//   - a child workflow decided and never started: the run is rebuilt, which
//     starts it; a child that ended without its outcome recorded in the
//     run: the outcome is recorded from the child's record;
//   - a step without a result whose task is gone (no message for it queued
//     or in flight: its step's consumer is idle), or a retry past due whose
//     schedule is gone: the run is rebuilt, which publishes the step again
//     and goes on from its last scheduled attempt.
//
// Each finding is published as a "repaired" or "stuck" event on the run's
// status subject and counted (Hooks.SweepFinding). `jetflow doctor` runs the
// same checks on demand (Client.Doctor).

// Problems the sweeper reports.
const (
	ProblemNotStarted    = "not_started"
	ProblemWakeLost      = "wake_lost"
	ProblemResultMissing = "result_missing"
	ProblemTimerLost     = "timer_lost"
	ProblemStepLost      = "step_task_lost"
	ProblemRetryLost     = "retry_lost"
	// ProblemChildLost: a child workflow the run started has no run
	// record (its start was lost); the repair starts it.
	ProblemChildLost = "child_lost"
	// ProblemChildResultLost: a child workflow ended, and the run has no
	// record of its outcome; the repair records it from the child's record.
	ProblemChildResultLost = "child_result_lost"
	// ProblemScheduleStalled: a schedule's tick (or a run it decided to
	// start) is overdue and nothing handled it (its wake-up was lost); the
	// repair wakes it.
	ProblemScheduleStalled = "schedule_stalled"
	ProblemCorruptRecord   = "corrupt_record"
	ProblemCorruptHistory  = "corrupt_history"
)

// Finding is one run the sweeper found owed progress.
type Finding struct {
	WorkflowID string `json:"workflow_id"`
	Workflow   string `json:"workflow,omitempty"`
	Problem    string `json:"problem"`
	Seq        int    `json:"seq,omitempty"`
	Step       string `json:"step,omitempty"`
	Detail     string `json:"detail"`
	// Repaired says the sweeper published what the run needs to move on.
	Repaired bool `json:"repaired"`
}

// Defaults of the sweeper (WithSweeper).
const (
	DefaultSweepInterval = 30 * time.Second
	DefaultSweepGrace    = 2 * time.Minute
	// sweepPage bounds the run records one sweep reads, and the open runs
	// it looks at again.
	sweepPage = 20_000
	// catchUpPages is how many pages a sweep that has caught up may read
	// of the records written since the last one.
	catchUpPages = 5
)

// maxOpen bounds the open runs a sweeper remembers; past it, it reads
// every record pass after pass instead.
var maxOpen = 100_000

// sweeper holds what one sweep needs; Worker and Client each build one.
type sweeper struct {
	env    *wire.Env
	log    *slog.Logger
	grace  time.Duration
	repair bool
	name   string

	// idle caches, for one sweep, whether a step's consumer has nothing
	// queued or in flight.
	idle map[string]bool
	// healthy remembers runs found waiting on something alive, by the
	// history batch they were at, so they are not read again every sweep.
	mu      sync.Mutex
	healthy map[string]healthyMark

	// Where the sweeps are. cursor is the runs bucket's stream sequence
	// the next read starts at. Until the reads reach the end of the
	// records once (caughtUp), each sweep reads the next page of them;
	// from then on a sweep reads only the records written since the last
	// one (runs started, moved, closed) and reads again the open runs
	// (and schedules) it remembers, a page at a time, so that the closed
	// runs a deployment keeps are read once, not once a pass. A pass
	// that finds more than maxOpen open runs forgets them (overflow) and
	// the sweeper reads every record pass after pass, one page a sweep,
	// until a pass finds fewer.
	cursor   uint64
	caughtUp bool
	overflow bool
	warned   bool
	// end is the last record of the pass under way (the stream's last
	// sequence when it began): a pass ends there however fast runs are
	// written meanwhile. created tells the runs bucket's stream from
	// one made again.
	end     uint64
	created time.Time
	open    map[string]bool
	// order is what is left of the round through open.
	order []string
}

type healthyMark struct {
	batch int
	// until is when the run is looked at again even if it did not move:
	// when the first timer or retry it waits on is due, or after a few
	// grace periods when it waits on a step in flight.
	until time.Time
}

// restart makes the next sweep begin a pass from the first record, as a
// sweeper that has just taken the lease does.
func (s *sweeper) restart() {
	s.cursor, s.end, s.caughtUp, s.overflow, s.open, s.order = 0, 0, false, false, nil, nil
}

// remember keeps key among the open runs and schedules, or forgets it.
func (s *sweeper) remember(key string, open bool) {
	switch {
	case s.overflow:
	case !open:
		delete(s.open, key)
	case s.open[key]:
	case len(s.open) >= maxOpen:
		if !s.warned {
			s.log.Warn("jetflow: sweeper: more open runs than it remembers; it reads every run record pass after pass", "open", len(s.open))
			s.warned = true
		}
		s.overflow, s.caughtUp, s.open, s.order = true, false, nil, nil
	default:
		if s.open == nil {
			s.open = map[string]bool{}
		}
		s.open[key] = true
	}
}

// sweep reads up to limit run records from the cursor on and looks at the
// open runs among them; once caught up, it also looks at up to limit of
// the open runs it remembers that it did not just read. done reports that
// the read reached the last record.
func (s *sweeper) sweep(ctx context.Context, limit int) (found []Finding, done bool, err error) {
	s.idle = map[string]bool{}
	seen := map[string]bool{}
	caughtUp := s.caughtUp
	read := limit
	if caughtUp {
		read = catchUpPages * limit
	}
	// The read gets half of the time left: looking at the open runs
	// again needs the rest.
	rctx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		rctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(deadline)/2))
		defer cancel()
	}
	found, done, err = s.read(rctx, read, seen)
	if err != nil {
		return found, false, err
	}
	switch {
	case done && s.overflow:
		s.cursor, s.overflow = 0, false // the next pass, which may find fewer
	case done:
		s.caughtUp = true
	}
	if caughtUp && !s.overflow {
		found = append(found, s.lookAgain(ctx, limit, seen)...)
	}
	return found, done, nil
}

// read reads up to limit run records from the cursor on, looks at each open
// run among them and remembers it, and moves the cursor past them; seen
// collects their keys.
func (s *sweeper) read(ctx context.Context, limit int, seen map[string]bool) ([]Finding, bool, error) {
	runsBucket := s.env.Buckets.Runs.Bucket()
	st, err := s.env.Stream(ctx, "KV_"+runsBucket)
	if err != nil {
		return nil, false, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("jetflow: sweeping the runs: %w", err)
	}
	if !s.created.IsZero() && !info.Created.Equal(s.created) || info.State.LastSeq+1 < s.cursor {
		s.restart() // a stream made again (restored, recreated): read it from the start
	}
	s.created = info.Created
	if s.cursor == 0 {
		s.end = info.State.LastSeq
	}
	cfg := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 30 * time.Second,
	}
	if s.cursor > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, s.cursor
	}
	cons, err := st.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("jetflow: sweeping the runs: %w", err)
	}
	defer func() { _ = st.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name) }()
	var found []Finding
	left, read := cons.CachedInfo().NumPending, 0
	for left > 0 && read < limit && ctx.Err() == nil && (s.caughtUp || s.cursor <= s.end) {
		batch, err := cons.Fetch(int(min(left, uint64(limit-read), 500)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return found, false, fmt.Errorf("jetflow: sweeping the runs: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if ctx.Err() != nil {
				continue // past its time: read on the next sweep
			}
			read++
			if md, _ := m.Metadata(); md != nil {
				left, s.cursor = md.NumPending, md.Sequence.Stream+1
			} else {
				left--
			}
			key := strings.TrimPrefix(m.Subject(), "$KV."+runsBucket+".")
			seen[key] = true
			found = append(found, s.record(ctx, key, m.Headers().Get("KV-Operation") == "", m.Data())...)
		}
		if err := batch.Error(); err != nil {
			return found, false, fmt.Errorf("jetflow: sweeping the runs: %w", err)
		}
		if got == 0 {
			break
		}
	}
	// A pass ends at the record that was last when it began.
	return found, left == 0 || !s.caughtUp && s.cursor > s.end, nil
}

// record looks at the last record of key read (live: not a delete or
// purge marker) and remembers the open runs and schedules.
func (s *sweeper) record(ctx context.Context, key string, live bool, data []byte) []Finding {
	if id, ok := strings.CutPrefix(key, kv.ScheduleKeyPrefix); ok && live {
		s.remember(key, true)
		if f, stalled := s.checkSchedule(ctx, id, data); stalled {
			return []Finding{f}
		}
		return nil
	}
	if !live || ValidateID(key) != nil {
		s.remember(key, false)
		return nil // deleted, or not a run (a lease)
	}
	var run kv.Run
	if err := kv.Unmarshal(data, &run); err != nil {
		s.remember(key, true)
		return []Finding{{WorkflowID: key, Problem: ProblemCorruptRecord, Detail: err.Error()}}
	}
	if kv.Terminal(run.Status) {
		s.remember(key, false)
		return nil
	}
	s.remember(key, true)
	return s.check(ctx, &run)
}

// lookAgain reads again up to limit of the open runs and schedules
// remembered, in rounds, leaving out those just read, and looks at them:
// a record purged (retention, a continue-as-new's) leaves no marker, and
// only a read tells.
func (s *sweeper) lookAgain(ctx context.Context, limit int, seen map[string]bool) []Finding {
	if len(s.order) == 0 {
		s.order = make([]string, 0, len(s.open))
		for key := range s.open {
			s.order = append(s.order, key)
		}
	}
	var found []Finding
	for n := 0; n < limit && len(s.order) > 0 && ctx.Err() == nil; {
		key := s.order[0]
		s.order = s.order[1:]
		if !s.open[key] || seen[key] {
			continue
		}
		n++
		e, err := s.env.Buckets.Runs.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			s.remember(key, false)
		case err != nil:
			s.log.Warn("jetflow: sweeper reading a run record", "key", key, "err", err) // read on the next round
		default:
			found = append(found, s.record(ctx, key, true, e.Value())...)
		}
	}
	return found
}

// check looks at one open run.
func (s *sweeper) check(ctx context.Context, run *kv.Run) []Finding {
	now := time.Now()
	exec := max(run.Exec, 1)
	ek := kv.ExecKey(run.ID, run.Inc, exec)
	last, hasHistory, err := lastBatch(ctx, s.env, ek)
	if err != nil {
		s.log.Warn("jetflow: sweeper reading a history", "workflow_id", run.ID, "err", err)
		return nil
	}
	if !hasHistory {
		// Nothing decided yet: pending, or an execution that continued
		// as new and was never started.
		since := run.CreatedAt
		if run.StartedAt.After(since) {
			since = run.StartedAt
		}
		if now.Sub(since) < s.grace || !s.consumerIdle(ctx, s.env.Names.WorkflowConsumer(run.Workflow)) {
			// Moved lately, or its start hint may be waiting its turn (or
			// for a worker of its type: no_worker says so).
			return nil
		}
		f := Finding{WorkflowID: run.ID, Workflow: run.Workflow, Problem: ProblemNotStarted,
			Detail: fmt.Sprintf("%s for %s and no worker started it", run.Status, now.Sub(since).Round(time.Second))}
		return []Finding{s.act(ctx, f, wire.WorkflowTask{WorkflowID: run.ID, Workflow: run.Workflow, Reason: wire.ReasonStart, Exec: exec})}
	}
	if now.Sub(last.At) < s.grace {
		return nil // moved lately
	}
	s.mu.Lock()
	mark, ok := s.healthy[run.ID]
	s.mu.Unlock()
	if ok && mark.batch == last.N && now.Before(mark.until) {
		return nil // waiting on something alive when last looked at
	}
	h, err := readHistory(ctx, s.env, ek)
	if err != nil {
		return []Finding{{WorkflowID: run.ID, Workflow: run.Workflow, Problem: ProblemCorruptHistory, Detail: err.Error()}}
	}
	found, until := s.checkHistory(ctx, run, ek, h, now)
	if len(found) == 0 {
		s.mu.Lock()
		if s.healthy == nil || len(s.healthy) > 100_000 {
			s.healthy = map[string]healthyMark{}
		}
		s.healthy[run.ID] = healthyMark{batch: last.N, until: until}
		s.mu.Unlock()
	}
	return found
}

// checkHistory finds what a run that has not moved for the grace period
// waits on, and whether that can still come. When all is well, until is
// when it is worth looking again.
func (s *sweeper) checkHistory(ctx context.Context, run *kv.Run, ek string, h *history, now time.Time) (found []Finding, until time.Time) {
	until = now.Add(3 * s.grace)
	due := func(at time.Time) {
		if at = at.Add(s.grace); at.After(now) && at.Before(until) {
			until = at
		}
	}
	decided := map[int]kv.Decision{}
	delivered := map[int]bool{}
	for _, b := range h.batches {
		if b.Closing != nil {
			return nil, until // closed in its history; the record follows
		}
		for _, d := range b.Decisions {
			if d.Refused == nil && (d.Kind == kv.KindStep || d.Kind == kv.KindTimer || d.Kind == kv.KindChild) {
				decided[d.Seq] = d
			}
		}
		for _, seq := range b.Deliveries {
			delivered[seq] = true
		}
	}
	exec := max(run.Exec, 1)
	repair := wire.WorkflowTask{WorkflowID: run.ID, Workflow: run.Workflow, Reason: wire.ReasonRepair, Exec: exec}
	base := Finding{WorkflowID: run.ID, Workflow: run.Workflow}
	for seq := range delivered {
		if d, ok := decided[seq]; ok && h.results[seq] == nil {
			f := base
			f.Problem, f.Seq, f.Step = ProblemResultMissing, seq, d.Name
			f.Detail = fmt.Sprintf("the result of %s %s (position %d) was deleted after the run saw it", d.Kind, d.Name, seq)
			return []Finding{s.act(ctx, f, repair)}, until
		}
	}
	rebuild := false
	for seq, d := range decided {
		if delivered[seq] {
			continue
		}
		f := base
		f.Seq, f.Step = seq, d.Name
		if res := h.results[seq]; res != nil {
			if now.Sub(res.CompletedAt) < s.grace {
				// Recorded lately: its wake-up is on its way. The run's
				// last batch is as old as the step took.
				due(res.CompletedAt)
				continue
			}
			f.Problem = ProblemWakeLost
			f.Detail = fmt.Sprintf("%s %s (position %d) has a result the run never saw", d.Kind, d.Name, seq)
			found = append(found, s.act(ctx, f, wire.WorkflowTask{WorkflowID: run.ID, Workflow: run.Workflow, Reason: wire.ReasonResult, Seq: seq, Exec: exec}))
			continue
		}
		if d.Kind == kv.KindChild {
			if now.Sub(d.At) < s.grace {
				due(d.At)
				continue
			}
			if cf, ok := s.checkChild(ctx, run, ek, d, f); ok {
				found = append(found, cf)
			}
			continue
		}
		if d.Kind == kv.KindTimer {
			if now.Sub(d.At) < s.grace {
				due(d.At)
				continue
			}
			f.Problem = ProblemTimerLost
			f.Detail = fmt.Sprintf("timer at position %d was due %s ago and nothing fired it%s", seq, now.Sub(d.At).Round(time.Second), s.dropSchedule(ctx, ek, seq, 0))
			found = append(found, s.act(ctx, f, wire.WorkflowTask{WorkflowID: run.ID, Workflow: run.Workflow, Reason: wire.ReasonTimer, Seq: seq, FireAt: d.At, Exec: exec}))
			continue
		}
		if r := h.retries[seq]; r != nil {
			if now.Sub(r.NotBefore) < s.grace || !s.stepIdle(ctx, d.Name) {
				due(r.NotBefore)
				continue
			}
			f.Problem = ProblemRetryLost
			f.Detail = fmt.Sprintf("attempt %d of step %s was due %s ago and nothing ran it%s", r.Attempt, d.Name, now.Sub(r.NotBefore).Round(time.Second), s.dropSchedule(ctx, ek, seq, r.Attempt))
		} else {
			if now.Sub(d.At) < s.grace || !s.stepIdle(ctx, d.Name) {
				continue
			}
			f.Problem = ProblemStepLost
			f.Detail = fmt.Sprintf("step %s (position %d) was scheduled %s ago, has no result, and no task of its step is queued or running",
				d.Name, seq, now.Sub(d.At).Round(time.Second))
		}
		if !rebuild {
			// One rebuild publishes again every step the run waits on.
			found = append(found, s.act(ctx, f, repair))
			rebuild = true
		} else {
			f.Repaired = found[len(found)-1].Repaired
			found = append(found, f)
		}
	}
	return found, until
}

// act reports f and, when repairing, publishes task.
func (s *sweeper) act(ctx context.Context, f Finding, task wire.WorkflowTask) Finding {
	if s.repair {
		if err := s.env.PublishWorkflowTask(ctx, task, ""); err != nil {
			s.log.Warn("jetflow: sweeper repairing a run", "workflow_id", f.WorkflowID, "problem", f.Problem, "err", err)
		} else {
			f.Repaired = true
		}
	}
	return s.report(f)
}

// report publishes a finding as an event and logs it.
func (s *sweeper) report(f Finding) Finding {
	ev := wire.Event{Event: wire.EventStuck, Workflow: f.Workflow, WorkflowID: f.WorkflowID, Seq: f.Seq, Step: f.Step,
		Error: f.Problem + ": " + f.Detail, ErrorType: f.Problem, Worker: s.name}
	if f.Repaired {
		ev.Event = wire.EventRepaired
	}
	s.env.Emit(ev)
	s.log.Warn("jetflow: sweeper found a run owed progress", "workflow_id", f.WorkflowID, "problem", f.Problem, "detail", f.Detail, "repaired", f.Repaired)
	return f
}

// dropSchedule removes the schedule of a delayed task (a timer, attempt 0,
// or a retry) that is past due by more than the grace: it failed to fire (a
// full store refuses what it would publish) or was lost. When repairing,
// the schedule is removed so that it cannot fire after the repair too. It
// returns what to add to the finding's detail.
func (s *sweeper) dropSchedule(ctx context.Context, ek string, seq, attempt int) string {
	st, err := s.env.Stream(ctx, s.env.Names.TaskStream())
	if err != nil {
		return ""
	}
	subj := s.env.Names.ScheduleSubject(ek, seq, attempt)
	if _, err := st.GetLastMsgForSubject(ctx, subj); errors.Is(err, jetstream.ErrMsgNotFound) {
		return " (its schedule is gone)"
	} else if err != nil {
		return ""
	}
	if s.repair {
		_ = st.Purge(ctx, jetstream.WithPurgeSubject(subj))
	}
	return " (its schedule is there and did not fire)"
}

// stepIdle reports whether nothing of the step is queued or in flight, so
// that a task of it that is not there is lost, not waiting its turn.
func (s *sweeper) stepIdle(ctx context.Context, step string) bool {
	return s.consumerIdle(ctx, s.env.Names.StepConsumer(step))
}

// consumerIdle reports whether a durable consumer of the task stream has
// nothing queued or in flight (and exists).
func (s *sweeper) consumerIdle(ctx context.Context, consumer string) bool {
	if idle, ok := s.idle[consumer]; ok {
		return idle
	}
	idle := false
	if cons, err := s.env.JS.Consumer(ctx, s.env.Names.TaskStream(), consumer); err == nil {
		if info, err := cons.Info(ctx); err == nil {
			idle = info.NumPending == 0 && info.NumAckPending == 0
		}
	} else if errors.Is(err, jetstream.ErrConsumerNotFound) {
		idle = false // no worker ever served it: it waits for one (no_worker says so)
	}
	s.idle[consumer] = idle
	return idle
}

// sweeperLease is the key of the lease in the runs bucket ('/' is never in
// a workflow ID).
const sweeperLease = "jetflow/sweeper"

type lease struct {
	Holder string    `msgpack:"h"`
	Until  time.Time `msgpack:"u"`
}

// holdLease takes or renews the sweeper's lease for d; it reports whether
// this worker holds it.
func (w *Worker) holdLease(ctx context.Context, d time.Duration) bool {
	now := time.Now()
	mine := lease{Holder: w.instance, Until: now.Add(d)}
	cur, rev, err := kv.Get[lease](ctx, w.env.Buckets.Runs, sweeperLease)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		_, err = kv.Create(ctx, w.env.Buckets.Runs, sweeperLease, mine)
		return err == nil
	case err != nil && !errors.Is(err, kv.ErrCorrupt):
		return false
	case err == nil && cur.Holder != w.instance && now.Before(cur.Until) && cur.Until.Sub(now) <= 10*d:
		return false // held by another worker (a lease dated absurdly far ahead is not)
	}
	_, err = kv.Update(ctx, w.env.Buckets.Runs, sweeperLease, mine, rev)
	return err == nil
}

// sweepLoop runs the sweeper every interval while this worker holds the
// lease.
func (w *Worker) sweepLoop(ctx context.Context) {
	s := &sweeper{env: w.env, log: w.log, grace: w.cfg.sweepGrace, repair: true, name: w.cfg.name}
	t := time.NewTicker(w.cfg.sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !w.holdLease(ctx, 3*w.cfg.sweepInterval) {
			// Another worker sweeps; what this one knew may be stale
			// when the lease comes back.
			s.restart()
			continue
		}
		// A sweep ends within two intervals (5 s at least), inside the
		// lease of three: with an interval of 2.5 s or more, two workers
		// never sweep at once.
		sctx, cancel := context.WithTimeout(ctx, max(2*w.cfg.sweepInterval, 5*time.Second))
		found, _, err := s.sweep(sctx, sweepPage)
		cancel()
		if err != nil && ctx.Err() == nil {
			w.log.Warn("jetflow: sweeping", "err", err)
		}
		for _, f := range found {
			if w.Hooks.SweepFinding != nil {
				w.Hooks.SweepFinding(f.Problem, f.Repaired)
			}
		}
	}
}

// Doctor runs the sweeper's checks over every run now, as `jetflow doctor`
// does: runs that have not moved for grace and wait on something that will
// not come. With repair set it also repairs them, as the sweeper would.
func (c *Client) Doctor(ctx context.Context, grace time.Duration, repair bool) ([]Finding, error) {
	if grace <= 0 {
		grace = DefaultSweepGrace
	}
	s := &sweeper{env: c.env, log: c.cfg.logger, grace: grace, repair: repair, name: "doctor"}
	var all []Finding
	for {
		found, done, err := s.sweep(ctx, sweepPage)
		all = append(all, found...)
		if err != nil || done {
			return all, err
		}
	}
}

// checkChild looks at the child a run started at d and has no outcome of:
// a child with no record was never started (repaired by rebuilding the
// parent, which starts it); a child that ended has its outcome recorded
// again from its record. A child still running is fine: the sweep looks at
// it on its own.
func (s *sweeper) checkChild(ctx context.Context, run *kv.Run, ek string, d kv.Decision, f Finding) (Finding, bool) {
	var c kv.ChildStart
	if err := kv.Unmarshal(d.Value, &c); err != nil {
		f.Problem, f.Detail = ProblemCorruptHistory, fmt.Sprintf("the child decision at position %d does not decode: %v", d.Seq, err)
		return f, true
	}
	link := &kv.ParentLink{ID: run.ID, Inc: run.Inc, Exec: max(run.Exec, 1), Seq: d.Seq}
	child, _, err := kv.Get[kv.Run](ctx, s.env.Buckets.Runs, c.ID)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		f.Problem = ProblemChildLost
		f.Detail = fmt.Sprintf("child workflow %s %s (position %d) was decided %s ago and has no run", d.Name, c.ID, d.Seq, time.Since(d.At).Round(time.Second))
		return s.act(ctx, f, wire.WorkflowTask{WorkflowID: run.ID, Workflow: run.Workflow, Reason: wire.ReasonRepair, Exec: max(run.Exec, 1)}), true
	case err != nil, !child.Parent.Same(link), !kv.Terminal(child.Status):
		// Unreadable now, someone else's run (the parent's own start
		// records that), or still running.
		return f, false
	}
	f.Problem = ProblemChildResultLost
	f.Detail = fmt.Sprintf("child workflow %s %s (position %d) ended %s and the run has no record of it", d.Name, c.ID, d.Seq, child.Status)
	if s.repair {
		cl := &kv.Closing{Status: child.Status, Output: child.Output, Error: child.Error}
		if err := notifyParent(ctx, s.env, &child, cl, child.ClosedAt, s.name); err != nil {
			s.log.Warn("jetflow: sweeper recording a child's outcome", "workflow_id", run.ID, "child", c.ID, "err", err)
		} else {
			f.Repaired = true
		}
	}
	return s.report(f), true
}

// checkSchedule looks at a schedule's record: a tick overdue by more than
// the grace, or runs decided and not confirmed started for as long, mean
// its wake-up was lost.
func (s *sweeper) checkSchedule(ctx context.Context, id string, data []byte) (Finding, bool) {
	f := Finding{WorkflowID: id}
	var sc kv.Schedule
	if err := kv.Unmarshal(data, &sc); err != nil {
		f.Problem, f.Detail = ProblemCorruptRecord, "schedule "+id+": "+err.Error()
		return f, true
	}
	f.Workflow = sc.Workflow
	now := time.Now()
	switch {
	case len(sc.Pending) > 0 && now.Sub(sc.UpdatedAt) > s.grace:
		f.Detail = fmt.Sprintf("schedule %s decided to start %s %s ago and did not confirm it", id, sc.Pending[0].WorkflowID, now.Sub(sc.UpdatedAt).Round(time.Second))
	case len(sc.Requested) > 0 && now.Sub(sc.UpdatedAt) > s.grace:
		f.Detail = fmt.Sprintf("schedule %s has ticks asked for by hand %s ago and not handled", id, now.Sub(sc.UpdatedAt).Round(time.Second))
	case !sc.Paused && sc.Done == "":
		cs, err := specOf(&sc)
		if err != nil {
			return f, false
		}
		next, ok := cs.Next(sc.Last)
		if !ok || now.Sub(next.Add(cs.Jitter(sc.ID, next))) <= s.grace || !s.consumerIdle(ctx, s.env.Names.WorkflowConsumer(sc.Workflow)) {
			return f, false
		}
		f.Detail = fmt.Sprintf("schedule %s's tick at %s is %s overdue and nothing handled it", id, next.Format(time.RFC3339), now.Sub(next).Round(time.Second))
	default:
		return f, false
	}
	f.Problem = ProblemScheduleStalled
	return s.act(ctx, f, wire.WorkflowTask{WorkflowID: id, Workflow: sc.Workflow, Reason: wire.ReasonSchedule}), true
}
