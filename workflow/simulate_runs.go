package workflow

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/internal/runner"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow/internal/kit"
)

// How the simulation moves one run: the part of a Worker's workflow task
// (decide, commit, publish, closeRun) and of the runner that talks to NATS,
// done in memory. The execution code it drives is the Worker's.

// simRun is one run of the simulation: a workflow's execution, or a fake
// child workflow's call.
type simRun struct {
	id  string
	def Registrable
	// fake is set for a child workflow replaced by a function.
	fake *kit.Handler
	// run is the record as the current execution started.
	run  kv.Run
	x    *execution
	hist history
	// root is the run whose Run moves this one (itself for a root).
	root *simRun
	// parent and parentX are the run and execution that started this one.
	parent  *simRun
	parentX *execution

	// inbox are signals sent and not yet received; arrived the positions
	// whose results are recorded and not yet delivered, in order.
	inbox   []kv.SignalIn
	arrived []int
	queued  bool
	// inflight are the step attempts running, in the order they started.
	inflight []*simAttempt
	closed   *kv.Closing
	closedAt time.Time
	// replayFailed stops checking an execution whose replay failed once.
	replayFailed bool
}

func (r *simRun) status() string {
	if r.closed != nil {
		return r.closed.Status
	}
	return kv.StatusRunning
}

func (s *sim) newRun(def Registrable, run kv.Run) *simRun {
	r := &simRun{id: run.ID, def: def, run: run, x: newExecution(s.w, def, run),
		hist: history{results: map[int]*kv.Result{}}}
	s.runs[run.ID] = r
	s.order = append(s.order, r)
	return r
}

// wake queues a workflow task for r, unless one is queued already: what
// arrives before it runs is taken by it together, as wake-ups waiting for
// a run's lock are by a Worker.
func (s *sim) wake(r *simRun) {
	if r.queued || r.closed != nil || r.x == nil {
		return
	}
	r.queued = true
	s.after(s.now, r, func() {
		r.queued = false
		s.task(r)
	})
}

// task is Worker.decide and Worker.commit: signals first, then results,
// then the code runs until it waits; what it saw and decided becomes one
// history batch.
func (s *sim) task(r *simRun) {
	x := r.x
	run := !x.started || len(x.deliveries) > 0
	for _, sig := range r.inbox {
		wasCanceled, wasTerminated := x.cancel != nil, x.terminate != nil
		if !x.deliverSignal(sig) {
			continue
		}
		run = true
		if sig.Name == kv.SignalCancel && !wasCanceled && !wasTerminated {
			x.cancelChildren()
		}
		if sig.Name == kv.SignalCancel && !wasCanceled && !wasTerminated || sig.Name == kv.SignalTerminate && !wasTerminated {
			s.halt(r, sig.Name == kv.SignalTerminate)
		}
	}
	r.inbox = nil
	for _, seq := range r.arrived {
		if x.deliver(seq, r.hist.results[seq]) {
			run = true
		}
	}
	r.arrived = nil
	if x.terminate != nil {
		x.closing = x.closingOf()
	} else {
		if run {
			x.step()
		}
		if x.done || x.fatal != nil {
			x.closing = x.closingOf()
		}
	}
	closing := x.closing
	if x.closingRecorded {
		closing = nil
	}
	if len(x.decisions) > 0 || len(x.deliveries) > 0 || len(x.signalsIn) > 0 || closing != nil || x.batches == 0 {
		b := kv.Batch{N: x.batches + 1, Signals: x.signalsIn, Deliveries: x.deliveries, Decisions: x.decisions, Closing: closing,
			Worker: simWorker, At: s.now, Seq: x.seq, WaitingOn: x.blockedOn}
		if b.N == 1 {
			b.Inc = x.run.Inc
		}
		r.hist.batches = append(r.hist.batches, b)
		x.batches++
		x.histEvents += len(b.Signals) + len(b.Deliveries) + len(b.Decisions)
		x.signalsIn, x.deliveries, x.decisions = nil, nil, nil
		if closing != nil {
			x.closingRecorded = true
		}
	}
	s.publish(r)
	if s.cfg.ReplayEveryTask && r.closed == nil {
		s.check(r)
	}
}

// publish is Worker.publish: the steps, children, cancellations and timers
// this task decided, then the close.
func (s *sim) publish(r *simRun) {
	x := r.x
	for _, t := range x.newSteps {
		if x.pending[t.Seq] != nil {
			s.scheduleAttempt(r, t, s.now)
		}
	}
	for _, seq := range x.newChildren {
		if sl := x.pending[seq]; sl != nil && sl.child != nil {
			s.startChild(r, sl)
		}
	}
	// cancelChildren lists them in map order: sorted, the children move in
	// the same order every time.
	slices.Sort(x.childCancels)
	for _, seq := range x.childCancels {
		if sl := x.pending[seq]; sl != nil && sl.child != nil {
			s.signalChild(r, sl, kv.SignalCancel, "parent "+r.id+" canceled")
		}
	}
	for _, tr := range x.newTimers {
		if x.pending[tr.seq] != nil {
			seq := tr.seq
			s.after(tr.at, r, func() { s.fireTimer(r, seq) })
		}
	}
	x.newSteps, x.newTimers, x.events, x.newChildren, x.childCancels = nil, nil, nil, nil, nil
	if x.closing != nil {
		s.close(r, x.closing)
	}
}

// recordResult records the result at position seq of r (the first write
// wins, as in the steps bucket) and wakes r.
func (s *sim) recordResult(r *simRun, seq int, res *kv.Result) {
	if r.hist.results[seq] != nil {
		return
	}
	r.hist.results[seq] = res
	r.arrived = append(r.arrived, seq)
	s.wake(r)
}

// fireTimer is Worker.fireTimer: the timer's result, at its recorded time.
func (s *sim) fireTimer(r *simRun, seq int) {
	sl := r.x.pending[seq]
	if sl == nil || sl.kind != kv.KindTimer {
		return
	}
	s.recordResult(r, seq, &kv.Result{Kind: kv.KindTimer, Name: sl.name, ScheduledAt: sl.at, CompletedAt: s.now, Worker: simWorker})
}

// send is a signal as the task stream holds it: the next sequence number,
// stamped with the clock.
func (s *sim) send(r *simRun, name string, payload []byte) {
	s.sigSeq++
	if r.fake != nil {
		// A fake child is only a call: canceling or terminating it ends it.
		switch name {
		case kv.SignalCancel:
			info := errorInfo(&CanceledError{Reason: string(payload)})
			s.close(r, &kv.Closing{Status: kv.StatusCanceled, Error: &info})
		case kv.SignalTerminate:
			s.close(r, terminated(string(payload)))
		}
		return
	}
	r.inbox = append(r.inbox, kv.SignalIn{Seq: s.sigSeq, Name: name, Payload: payload, At: s.now})
	s.wake(r)
}

// simAttempt is one step attempt in flight.
type simAttempt struct {
	r       *simRun
	x       *execution
	t       runner.Task
	permit  *runner.BreakerPermit
	call    int
	started time.Time
	done    bool
}

func (s *sim) scheduleAttempt(r *simRun, t runner.Task, at time.Time) {
	s.after(at, r, func() { s.attempt(r, t) })
}

// attempt is the runner's handle and attempt: the schedule-to-close limit
// and the breaker first, then the handler, called at once in this
// goroutine; its outcome reaches the run when the handler's virtual
// duration (Handler.Takes, cut at the start-to-close timeout) is over.
func (s *sim) attempt(r *simRun, t runner.Task) {
	if r.x.pending[t.Seq] == nil {
		return
	}
	a := &simAttempt{r: r, x: r.x, t: t, started: s.now, call: len(s.calls)}
	s.calls = append(s.calls, kit.Call{WorkflowID: r.id, Step: t.Step, Seq: t.Seq, Attempt: t.Attempt, Compensation: t.Compensation,
		Input: t.Input, At: s.now})
	refused := runner.ScheduleToCloseError(&t, s.now)
	if refused == nil && t.Breaker != nil {
		a.permit, refused = s.breakers.Admit(&t)
	}
	if refused != nil {
		s.calls[a.call].Refused = true
		s.end(a, nil, refused)
		return
	}
	h, ok := s.handlers[t.Step]
	if !ok || h.Invoke == nil {
		s.fault = fmt.Errorf("workflowtest: step %s of run %s has no handler: register it (RegisterStep) or fake it (OnStep)", t.Step, r.id)
		return
	}
	out, err := runner.Invoke(steps.WithInfo(context.Background(), t.Info()), h.Invoke, t.Input)
	takes := max(h.Takes, 0)
	if takes > t.StartToClose {
		takes, out, err = t.StartToClose, nil, runner.StartToCloseError(&t)
	}
	r.inflight = append(r.inflight, a)
	s.push(&simEvent{at: s.now.Add(takes), r: r, always: true, fn: func() { s.end(a, out, err) }})
}

// halt stops r's attempts in flight, as the runner does when their run is
// canceled (all but compensations) or terminated (all).
func (s *sim) halt(r *simRun, terminate bool) {
	for _, a := range slices.Clone(r.inflight) {
		if terminate || !a.t.Compensation {
			s.end(a, nil, runner.HaltedError(&a.t))
		}
	}
}

// end is the runner's finish: the breaker hears the outcome, then the
// attempt settles into a result or the next attempt.
func (s *sim) end(a *simAttempt, out []byte, err error) {
	if a.done {
		return
	}
	a.done = true
	r := a.r
	if i := slices.Index(r.inflight, a); i >= 0 {
		r.inflight = slices.Delete(r.inflight, i, i+1)
	}
	if a.permit != nil {
		s.breakers.Report(a.permit, &a.t, err)
	}
	c := &s.calls[a.call]
	c.Ended, c.Output = s.now, out
	if err != nil {
		c.Err = steps.AsError(err)
	}
	if r.closed != nil || r.x != a.x {
		return // nobody waits for it any more
	}
	res, retry, next := runner.Settle(&a.t, out, err, s.cfg.MaxPayload, a.started, s.now, simWorker)
	if retry != nil {
		nt := a.t
		nt.Attempt++
		nt.NotBefore = next
		s.scheduleAttempt(r, nt, next)
		return
	}
	s.recordResult(r, a.t.Seq, &res)
}

// startChild is Worker.startChild: the child's run starts unless its ID is
// taken, by this position's child (nothing to do) or by another run (the
// position resolves with an AlreadyStarted error).
func (s *sim) startChild(p *simRun, sl *slot) {
	c := sl.child
	if old := s.runs[c.ID]; old != nil {
		if old.parent == p && old.parentX == p.x && old.run.Parent != nil && old.run.Parent.Seq == sl.seq {
			return
		}
		info := &kv.ErrorInfo{Type: TypeAlreadyStarted, NonRetryable: true,
			Message: fmt.Sprintf("child workflow ID %s has a %s run of %s that this run did not start", c.ID, old.status(), old.run.Workflow)}
		s.recordResult(p, sl.seq, &kv.Result{Kind: kv.KindChild, Name: sl.name, Error: info, Ref: c.ID, CompletedAt: s.now, Worker: simWorker})
		return
	}
	link := &kv.ParentLink{ID: p.id, Workflow: p.run.Workflow, Inc: p.run.Inc, Exec: max(p.run.Exec, 1), Seq: sl.seq, Policy: c.Policy}
	rec := s.record(c.ID, sl.name, c.Input, link)
	if fake, ok := s.fakes[sl.name]; ok {
		r := &simRun{id: c.ID, fake: &fake, run: rec, root: p.root, parent: p, parentX: p.x}
		s.runs[c.ID] = r
		s.order = append(s.order, r)
		out, err := runner.Invoke(context.Background(), fake.Invoke, c.Input)
		s.after(s.now.Add(max(fake.Takes, 0)), r, func() { s.close(r, fakeClosing(out, err)) })
		return
	}
	def := s.defs[sl.name]
	if def == nil {
		s.fault = fmt.Errorf("workflowtest: child workflow %s of run %s is neither registered (RegisterWorkflow) nor faked (OnChild)", sl.name, p.id)
		return
	}
	r := s.newRun(def, rec)
	r.root, r.parent, r.parentX = p.root, p, p.x
	s.wake(r)
}

// fakeClosing is how a fake child that returned out or err ends.
func fakeClosing(out []byte, err error) *kv.Closing {
	if err == nil {
		return &kv.Closing{Status: kv.StatusCompleted, Output: out}
	}
	info := errorInfo(err)
	return &kv.Closing{Status: statusFor(err), Error: &info}
}

// signalChild is Worker.signalChild: to the child at sl, if it is still
// that position's and open.
func (s *sim) signalChild(p *simRun, sl *slot, name, reason string) {
	c := s.runs[sl.child.ID]
	if c == nil || c.parent != p || c.parentX != p.x || c.closed != nil {
		return
	}
	s.send(c, name, []byte(reason))
}

// close is Worker.closeRun: the parent close policy for children still
// running, the parent told, and the run closed — or, for continue-as-new, a
// fresh execution started.
func (s *sim) close(r *simRun, cl *kv.Closing) {
	if r.closed != nil {
		return
	}
	if r.x != nil {
		s.closeChildren(r, cl)
		s.check(r)
	}
	if cl.Status == kv.StatusContinuedAsNew {
		run := r.run
		run.Exec, run.SigSeq, run.Input, run.StartedAt = max(run.Exec, 1)+1, r.x.sigSeq, cl.ContinueInput, s.now
		r.x.kill()
		r.run, r.x, r.hist = run, newExecution(s.w, r.def, run), history{results: map[int]*kv.Result{}}
		r.arrived, r.inflight, r.replayFailed, r.queued = nil, nil, false, false
		s.wake(r)
		return
	}
	r.closed, r.closedAt = cl, s.now
	if r.x != nil {
		r.x.kill()
	}
	if r.run.Schedule != "" {
		s.scheduleRunClosed(r.run.Schedule)
	}
	if p := r.parent; p != nil && p.closed == nil && p.x == r.parentX {
		s.recordResult(p, r.run.Parent.Seq, &kv.Result{Kind: kv.KindChild, Name: r.run.Workflow, Output: cl.Output, Error: cl.Error, Ref: r.id,
			Status: cl.Status, ScheduledAt: r.run.CreatedAt, StartedAt: r.run.StartedAt, CompletedAt: s.now, Worker: simWorker})
	}
}

// closeChildren applies the parent close policy to r's children still
// running, in the order of their positions.
func (s *sim) closeChildren(r *simRun, cl *kv.Closing) {
	var seqs []int
	for seq, sl := range r.x.pending {
		if sl.child != nil {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		sl := r.x.pending[seq]
		reason := "parent " + r.id + " ended " + cl.Status
		switch ParentClosePolicy(sl.child.Policy) {
		case ParentCloseTerminate:
			s.signalChild(r, sl, kv.SignalTerminate, reason)
		case ParentCloseCancel:
			s.signalChild(r, sl, kv.SignalCancel, reason)
		}
	}
}
