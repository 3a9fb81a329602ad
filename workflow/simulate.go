package workflow

import (
	"container/heap"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/internal/runner"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow/internal/kit"
)

// The test kit's engine (package workflowtest, through package kit): runs
// of registered workflows moved in memory and in virtual time by the same
// execution code a Worker runs — claim and replay checks, deliver,
// deliverSignal, step, closingOf, the saga, selectors, children — with the
// Worker's NATS half (commit, publish, the runner) replaced by a queue of
// events ordered by virtual time. Where the Worker writes a history batch,
// the simulation keeps it, and it replays every history in a fresh
// execution, as a worker that lost the run from its cache would, so that
// code which would not decide the same way again fails the test.
//
// Steps run in the test's goroutine through the runner's own rules
// (runner.Settle: retry policy and backoff, non-retryable types, payload
// limits; runner.LocalBreakers: the breaker state machine on records in
// memory). Only one thing runs at a time, in the order events fall due;
// events of one instant run in the order they were queued.

func init() { kit.New = newSim }

// simWorker names the simulation in results and history batches.
const simWorker = "workflowtest"

// maxSimEvents bounds the events of one Run or Advance: a run that never
// waits for anything (a loop of zero-length timers) ends there.
const maxSimEvents = 1_000_000

type sim struct {
	cfg kit.Config
	w   *Worker
	now time.Time

	queue simQueue
	// n counts the events queued; it orders the events of one instant.
	n uint64

	defs     map[string]Registrable
	handlers map[string]kit.Handler
	fakes    map[string]kit.Handler
	runs     map[string]*simRun
	// order is the runs in the order they started.
	order []*simRun

	sigSeq   uint64
	calls    []kit.Call
	breakers *runner.LocalBreakers

	// watches are the callbacks of When not called yet, in the order they
	// were added.
	watches []*simWatch
	// schedules are the schedules created (simulate_schedule.go).
	schedules map[string]*simSchedule

	// fault stops the simulation (a step nobody handles).
	fault error
	// replays are the replay errors not yet reported.
	replays []error
}

func newSim(cfg kit.Config) kit.Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	s := &sim{cfg: cfg, now: cfg.Start.UTC(), defs: map[string]Registrable{}, handlers: map[string]kit.Handler{},
		fakes: map[string]kit.Handler{}, runs: map[string]*simRun{}, schedules: map[string]*simSchedule{}}
	s.w = &Worker{cfg: config{name: simWorker}, env: &wire.Env{MaxPayload: cfg.MaxPayload}, log: cfg.Logger,
		defaultStepOptions: cfg.StepOptions, clock: func() time.Time { return s.now }}
	s.breakers = runner.NewLocalBreakers(simWorker, func() time.Time { return s.now })
	return s
}

// simEvent is something due at a virtual time. An event of an execution
// (x) is dropped once that execution is over; one of a root run's
// callbacks (root) once that run is closed.
type simEvent struct {
	at   time.Time
	n    uint64
	r    *simRun
	x    *execution
	root *simRun
	// always keeps the event of a run that closed meanwhile (an attempt
	// in flight still ends, and its breaker hears how).
	always bool
	// off drops the event (a schedule's wake-up replaced by another).
	off bool
	fn  func()
}

type simQueue []*simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].n < q[j].n
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(v any)   { *q = append(*q, v.(*simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	ev := old[len(old)-1]
	*q = old[:len(old)-1]
	return ev
}

// after queues fn at t for run r's current execution (r nil: for nobody).
func (s *sim) after(t time.Time, r *simRun, fn func()) {
	ev := &simEvent{at: t, r: r, fn: fn}
	if r != nil {
		ev.x = r.x
	}
	s.push(ev)
}

func (s *sim) push(ev *simEvent) {
	if ev.at.Before(s.now) {
		ev.at = s.now
	}
	s.n++
	ev.n = s.n
	heap.Push(&s.queue, ev)
}

// live reports whether ev still has something to do.
func (ev *simEvent) live() bool {
	if ev.off {
		return false
	}
	if ev.always {
		return true
	}
	if ev.root != nil && ev.root.closed != nil {
		return false
	}
	return ev.r == nil || ev.r.closed == nil && ev.r.x == ev.x
}

// next pops the next live event due by until (zero: any), or nil. With
// family set it returns only events of that root's runs.
func (s *sim) next(until time.Time, family *simRun) *simEvent {
	for len(s.queue) > 0 {
		ev := s.queue[0]
		if !ev.live() {
			heap.Pop(&s.queue)
			continue
		}
		if !until.IsZero() && ev.at.After(until) {
			return nil
		}
		if family != nil && (ev.r == nil || ev.r.root != family) {
			return nil
		}
		heap.Pop(&s.queue)
		return ev
	}
	return nil
}

func (s *sim) fire(ev *simEvent) {
	if ev.at.After(s.now) {
		s.now = ev.at
	}
	ev.fn()
	s.watch()
}

// simWatch is a callback of When: fn, once cond holds, unless its root run
// (root) has closed first.
type simWatch struct {
	root *simRun
	cond func() bool
	fn   func()
}

// watch calls the callbacks of When whose condition holds now, in the
// order they were added; one dropped or called is gone.
func (s *sim) watch() {
	for i := 0; i < len(s.watches) && s.fault == nil; {
		w := s.watches[i]
		if w.root != nil && w.root.closed != nil {
			s.watches = slices.Delete(s.watches, i, i+1)
			continue
		}
		if !w.cond() {
			i++
			continue
		}
		// Out first: fn may add callbacks of its own.
		s.watches = slices.Delete(s.watches, i, i+1)
		w.fn()
	}
}

func (s *sim) When(owner string, cond func() bool, fn func()) {
	s.watches = append(s.watches, &simWatch{root: s.runs[owner], cond: cond, fn: fn})
}

// Run moves the runs until run id is closed and its children have nothing
// left to do due, then reports how it ended and what the replays found.
func (s *sim) Run(id string) kit.Outcome {
	r := s.runs[id]
	if r == nil {
		return kit.Outcome{Fault: fmt.Errorf("%w: %s", ErrNotFound, id)}
	}
	for n := 0; s.fault == nil; n++ {
		if n == maxSimEvents {
			s.fault = fmt.Errorf("workflowtest: run %s and its children took %d events without ending (virtual time %s): a step retried for ever (the default retry policy has no limit), or a loop of timers?",
				id, maxSimEvents, s.now.Format(time.RFC3339))
			break
		}
		var family *simRun
		if r.closed != nil {
			family = r
		} else if len(s.schedules) > 0 && !s.awaited(r) {
			break // only schedules go on, for ever: r waits on nothing they do
		}
		ev := s.next(time.Time{}, family)
		if ev == nil {
			break
		}
		s.fire(ev)
	}
	// Open runs of the family are checked as far as they went.
	for _, fr := range s.order {
		if fr.root == r && fr.closed == nil && fr.x != nil {
			s.check(fr)
		}
	}
	out := s.outcome(r)
	out.Fault = s.fault
	out.Replay, s.replays = s.replays, nil
	return out
}

// awaited reports whether an event queued concerns r: one of its family's,
// or a callback r owns.
func (s *sim) awaited(r *simRun) bool {
	for _, ev := range s.queue {
		if ev.live() && (ev.r != nil && ev.r.root == r || ev.root == r) {
			return true
		}
	}
	return false
}

// outcome is how r ended, or what it waits on while open.
func (s *sim) outcome(r *simRun) kit.Outcome {
	var out kit.Outcome
	if r.closed == nil {
		if r.x != nil {
			out.Blocked = r.x.blockedOn
		}
		if out.Blocked == "" {
			out.Blocked = "nothing (it never ran)"
		}
		return out
	}
	cl := r.closed
	out.Status, out.Output = cl.Status, cl.Output
	if cl.Status != kv.StatusCompleted {
		out.Err = runError(kv.Run{ID: r.id, Status: cl.Status, Error: cl.Error})
	}
	return out
}

func (s *sim) Result(id string) (kit.Outcome, bool) {
	r := s.runs[id]
	if r == nil {
		return kit.Outcome{}, false
	}
	return s.outcome(r), true
}

// Record is the run's record as a Worker keeps it: the current
// execution's start, and how the run ended.
func (s *sim) Record(id string) (any, bool) {
	r := s.runs[id]
	if r == nil {
		return Record{}, false
	}
	run := r.run
	run.Status = r.status()
	if cl := r.closed; cl != nil {
		run.Output, run.Error, run.ClosedAt = cl.Output, cl.Error, r.closedAt
	}
	return recordOf(run), true
}

// Advance moves the clock d forward, doing what falls due meanwhile.
func (s *sim) Advance(d time.Duration) ([]error, error) {
	until := s.now.Add(d)
	for n := 0; s.fault == nil; n++ {
		if n == maxSimEvents {
			s.fault = fmt.Errorf("workflowtest: %d events in %s of virtual time: a step retried for ever, or a loop of timers?", maxSimEvents, d)
			break
		}
		ev := s.next(until, nil)
		if ev == nil {
			break
		}
		s.fire(ev)
	}
	if s.fault == nil && until.After(s.now) {
		s.now = until
	}
	replay := s.replays
	s.replays = nil
	return replay, s.fault
}

func (s *sim) At(t time.Time, owner string, fn func()) {
	s.push(&simEvent{at: t.UTC(), root: s.runs[owner], fn: fn})
}

func (s *sim) Now() time.Time { return s.now }

func (s *sim) Register(def any) error {
	d, ok := def.(Registrable)
	if !ok {
		return fmt.Errorf("jetflow: %T is not a workflow definition", def)
	}
	if !steps.ValidName(d.Name()) {
		return fmt.Errorf("%w: %q", ErrInvalidName, d.Name())
	}
	if _, dup := s.defs[d.Name()]; dup {
		return fmt.Errorf("jetflow: workflow %s registered twice", d.Name())
	}
	s.defs[d.Name()] = d
	return nil
}

func (s *sim) SetStep(name string, h kit.Handler)  { s.handlers[name] = h }
func (s *sim) SetChild(name string, h kit.Handler) { s.fakes[name] = h }

// Start starts a root run of def, as Client.Start does for a new ID.
func (s *sim) Start(def any, id string, input []byte) error {
	d, ok := def.(Registrable)
	if !ok {
		return fmt.Errorf("jetflow: %T is not a workflow definition", def)
	}
	if err := ValidateID(id); err != nil {
		return err
	}
	if !steps.ValidName(d.Name()) {
		return fmt.Errorf("%w: %q", ErrInvalidName, d.Name())
	}
	if old := s.runs[id]; old != nil {
		return &AlreadyStartedError{WorkflowID: id, Workflow: old.run.Workflow, Status: old.status()}
	}
	if max := s.cfg.MaxPayload - 1024; max > 0 && int64(len(input)) > max {
		return &PayloadTooLargeError{What: "input of " + d.Name() + " run " + id, Size: len(input), Max: s.cfg.MaxPayload}
	}
	r := s.newRun(d, s.record(id, d.Name(), input, nil))
	r.root = r
	s.wake(r)
	return nil
}

// record is a new run's record.
func (s *sim) record(id, workflow string, input []byte, parent *kv.ParentLink) kv.Run {
	return kv.Run{ID: id, Workflow: workflow, Status: kv.StatusRunning, Input: input, CreatedAt: s.now, StartedAt: s.now,
		Format: kv.FormatHistory, Exec: 1, Inc: kv.NewIncarnation(), Parent: parent}
}

func (s *sim) Signal(id, name string, payload []byte) error {
	if !steps.ValidName(name) {
		return fmt.Errorf("%w: signal %q (letters, digits, '-' and '_')", ErrInvalidName, name)
	}
	return s.sendTo(id, name, payload)
}

func (s *sim) Cancel(id, reason string) error { return s.sendTo(id, kv.SignalCancel, []byte(reason)) }

func (s *sim) Terminate(id, reason string) error {
	return s.sendTo(id, kv.SignalTerminate, []byte(reason))
}

// sendTo checks as Client.send does, then sends.
func (s *sim) sendTo(id, name string, payload []byte) error {
	r := s.runs[id]
	if r == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if r.closed != nil {
		return &RunClosedError{WorkflowID: id, Status: r.closed.Status}
	}
	if max := s.cfg.MaxPayload - 1024; max > 0 && int64(len(payload)) > max {
		return &PayloadTooLargeError{What: "signal " + name + " to run " + id, Size: len(payload), Max: s.cfg.MaxPayload}
	}
	s.send(r, name, payload)
	return nil
}

// Query answers from the run's handlers, as the worker holding it does.
func (s *sim) Query(id, name string) ([]byte, error) {
	if !steps.ValidName(name) {
		return nil, fmt.Errorf("%w: query %q (letters, digits, '-' and '_')", ErrInvalidName, name)
	}
	r := s.runs[id]
	if r == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if r.closed != nil {
		return nil, &RunClosedError{WorkflowID: id, Status: r.closed.Status}
	}
	if r.x == nil {
		return nil, &QueryError{WorkflowID: id, Query: name, Reason: "a fake child workflow has no query handlers"}
	}
	value, why := r.x.query(name)
	if why != "" {
		return nil, &QueryError{WorkflowID: id, Query: name, Reason: why}
	}
	return value, nil
}

func (s *sim) Decode(what string, data []byte, v any) error { return decodePayload(what, data, v) }

func (s *sim) History(id string) any {
	r := s.runs[id]
	if r == nil || r.x == nil {
		return []HistoryEntry(nil)
	}
	return historyEntries(&r.hist)
}

func (s *sim) Calls() []kit.Call { return slices.Clone(s.calls) }

func (s *sim) BreakerEvents() []steps.BreakerEvent { return s.breakers.Events() }

// Close ends the goroutines of workflow code still waiting.
func (s *sim) Close() {
	for _, r := range s.order {
		if r.x != nil {
			r.x.kill()
		}
	}
}

// check replays the history of r's current execution in a fresh one, as a
// worker that did not hold the run would, and keeps what that found.
func (s *sim) check(r *simRun) {
	if r.x == nil || r.replayFailed {
		return
	}
	if err := s.replay(r.def, r.run, &r.hist); err != nil {
		r.replayFailed = true
		s.replays = append(s.replays, err)
	}
}

// replay rebuilds an execution of def from its history; the error is what
// the rebuilding found wrong, a *NonDeterminismError above all.
func (s *sim) replay(def Registrable, run kv.Run, h *history) error {
	y := newExecution(s.w, def, run)
	defer y.kill()
	if err := y.replayHistory(h); err != nil {
		return fmt.Errorf("replaying the history of %s: %w", run.ID, err)
	}
	var nd *NonDeterminismError
	if errors.As(y.fatal, &nd) {
		return nd
	}
	return nil
}
