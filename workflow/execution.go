package workflow

import (
	"context"
	"fmt"
	"github.com/jetflow-dev/jetflow/internal/runner"
	"log/slog"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// An execution is one run's workflow code, alive in a goroutine of its own
// that the worker keeps between workflow tasks. The code and the worker take
// turns: the worker delivers results and resumes the code; the code runs
// until it must wait for something not yet known and hands control back.
// Only one of them runs at a time, so the code is deterministic and its
// state needs no lock. A worker that does not hold the run (a restart, an
// eviction) rebuilds it by replaying the run's history batches in order.
type execution struct {
	w   *Worker
	def Registrable
	run kv.Run
	// rev is the run record's revision as this worker last read or wrote it.
	rev uint64
	// ek is the key prefix of this execution's results and history.
	ek string

	// seq is the last position the code claimed.
	seq int
	// pending are the positions decided and not yet resolved.
	pending map[int]*slot
	// ready counts results delivered, which orders them for selectors.
	ready int
	now   time.Time

	// recorded are the decisions of the history being replayed; matched is
	// how many of them the code made again.
	recorded []kv.Decision
	matched  int
	replay   bool

	// What this task adds to the history, and the effects to publish once
	// it is recorded.
	decisions  []kv.Decision
	deliveries []int
	newSteps   []runner.Task
	newTimers  []timerReq
	// newChildren are the positions of children to start, childCancels
	// those of children to ask to cancel (the run was canceled).
	newChildren  []int
	childCancels []int
	// halt is the engine signal (cancel, terminate) to pass on to the
	// attempts in flight once this task is recorded.
	halt   string
	events []wire.Event
	// batches is how many history batches are recorded; events counts the
	// decisions and deliveries in them, against MaxHistoryEvents.
	batches    int
	histEvents int

	compensating    bool
	compensationErr *CompensationError
	blockedOn       string
	logger          *slog.Logger

	// The code's goroutine and the turns it takes with the worker.
	resume  chan struct{}
	yield   chan struct{}
	started bool
	killed  bool
	done    bool
	out     []byte
	err     error
	// fatal fails the run whatever the code does (non-determinism, a broken
	// history limit).
	fatal error
	// closing is set once the history records how this execution ended.
	closing         *kv.Closing
	closingRecorded bool
	// freshIDs makes the next publish use new deduplication IDs: what it
	// publishes again is known lost, and the server may still remember
	// the first publish's IDs.
	freshIDs bool
	// missing is a delivered position whose result is gone (see
	// rerunMissing); the replay stopped there.
	missing int
	// loaded is true during the task that rebuilt the run from history.
	loaded bool
	// unseen are results found recorded while rebuilding the run that its
	// history does not deliver yet: the rebuilding task delivers them.
	unseen []unseenResult
	// lastOwner is the instance that wrote the last history batch when this
	// copy was rebuilt from the history ("" for a fresh run).
	lastOwner string

	// Signals: those received and not taken yet, by name; the sequence of
	// the last one received (each is received once, in order); those this
	// task received, for its history batch.
	inbox     map[string][]signalDelivery
	sigSeq    uint64
	signalsIn []kv.SignalIn
	// cancel is set once the run is asked to stop, terminate once it is
	// ended at once (with its reason).
	cancel    *CanceledError
	terminate *string
	// queries are the run's query handlers (SetQueryHandler).
	queries map[string]func() ([]byte, error)
	// versions are the versions taken at change points (GetVersion).
	versions map[string]Version
}

// slot is the outcome of one position, shared by the futures that read it.
type slot struct {
	seq   int
	kind  string
	name  string
	ready bool
	// order is when the result was delivered (selectors pick the earliest).
	order int
	res   *kv.Result
	err   error
	// task is the step's task, kept until it resolves so that a run
	// rebuilt from history can publish it again.
	task *runner.Task
	at   time.Time
	// set is when a timer was set, in this process (for its span); zero
	// when it was rebuilt from history.
	set time.Time
	// child is a child workflow's start decision, kept until it resolves.
	child *kv.ChildStart
}

type unseenResult struct {
	seq int
	res *kv.Result
}

type timerReq struct {
	seq int
	at  time.Time
}

func newExecution(w *Worker, def Registrable, run kv.Run) *execution {
	e := &execution{
		w:       w,
		def:     def,
		run:     run,
		ek:      kv.ExecKey(run.ID, run.Inc, run.Exec),
		pending: map[int]*slot{},
		now:     run.CreatedAt,
		sigSeq:  run.SigSeq,
		resume:  make(chan struct{}, 1),
		yield:   make(chan struct{}, 1),
	}
	e.logger = slog.New(&replayHandler{e: e, h: w.log.Handler()}).With("workflow", run.Workflow, "workflow_id", run.ID)
	return e
}

// step runs the code until it waits or returns.
func (e *execution) step() {
	if e.done || e.killed {
		return
	}
	if !e.started {
		e.started = true
		go e.main()
	}
	e.resume <- struct{}{}
	<-e.yield
}

func (e *execution) main() {
	returned := false
	defer func() {
		if p := recover(); p != nil && !e.killed {
			e.out, e.err = nil, &steps.Error{Type: steps.TypePanic, Message: fmt.Sprintf("workflow code panicked: %v\n%s", p, debug.Stack())}
		} else if !returned && !e.killed && e.fatal == nil {
			// runtime.Goexit in workflow code, or our own unwinding
			// swallowed: never a completion.
			e.fatal = &UnwindError{Workflow: e.run.Workflow, WorkflowID: e.run.ID}
		}
		e.done = true
		e.yield <- struct{}{}
	}()
	<-e.resume
	if e.killed {
		return
	}
	out, err := e.def.execute(&wctx{e: e, opts: e.w.defaultStepOptions}, e.run.Input)
	if e.killed {
		return
	}
	e.out, e.err, returned = out, err, true
	if e.fatal == nil && e.matched < len(e.recorded) {
		d := e.recorded[e.matched]
		if d.Kind == kv.KindVersion {
			e.fatal = &codeBehindError{WorkflowID: e.run.ID, ChangeID: d.Name, Seq: d.Seq}
			return
		}
		e.fatal = &NonDeterminismError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, Seq: d.Seq,
			Expected: d.Kind + " " + d.Name, Found: "the workflow returning"}
	}
}

// wait hands control back to the worker until cond holds. In a killed
// execution it ends the goroutine (deferred calls run; recover cannot stop it).
func (e *execution) wait(name string, cond func() bool) {
	for !cond() {
		if e.fatal != nil || e.killed {
			e.exit()
		}
		e.blockedOn = name
		e.yield <- struct{}{}
		<-e.resume
		if e.killed {
			e.exit()
		}
	}
}

func (e *execution) exit() {
	runtime.Goexit()
}

// kill ends the code's goroutine: its wait returns into runtime.Goexit. The
// execution is never used again.
func (e *execution) kill() {
	if e.killed {
		return
	}
	e.killed = true
	if e.started && !e.done {
		e.resume <- struct{}{}
	}
}

// fail stops the code with a fatal error that fails the run.
func (e *execution) fail(err error) {
	if e.fatal == nil {
		e.fatal = err
	}
	e.yield <- struct{}{}
	// The worker never resumes a failed execution except to kill it.
	<-e.resume
	e.exit()
}

// claim takes the next position for a decision of kind and name. While the
// history is replayed it returns the decision recorded there, after checking
// that the code made the same one; afterwards it returns nil and the caller
// decides anew.
func (e *execution) claim(kind, name string) (int, *kv.Decision) {
	if e.killed || e.fatal != nil {
		e.exit()
	}
	e.seq++
	if e.matched < len(e.recorded) {
		d := &e.recorded[e.matched]
		e.matched++
		if d.Seq != e.seq || d.Kind != kind || d.Name != name {
			if d.Kind == kv.KindVersion {
				e.fail(&codeBehindError{WorkflowID: e.run.ID, ChangeID: d.Name, Seq: d.Seq})
			}
			e.fail(&NonDeterminismError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, Seq: e.seq,
				Expected: d.Kind + " " + d.Name, Found: kind + " " + name})
		}
		return e.seq, d
	}
	if limit := e.w.historyLimit(); e.histEvents+len(e.decisions)+len(e.deliveries) >= limit {
		e.fail(&HistoryLimitError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, Limit: limit})
	}
	return e.seq, nil
}

// decide appends a new decision to the history of this task.
func (e *execution) decide(d kv.Decision) { e.decisions = append(e.decisions, d) }

func (e *execution) emit(ev wire.Event) {
	if !e.replay {
		e.events = append(e.events, ev)
	}
}

// resolve marks a slot ready now (a result known at decision time).
func (e *execution) resolve(s *slot) {
	e.ready++
	s.ready, s.order = true, e.ready
}

// deliver hands the result of a pending position to the code. It reports
// false when the position is not pending (unknown, or delivered before).
func (e *execution) deliver(seq int, res *kv.Result) bool {
	s := e.pending[seq]
	if s == nil || res == nil {
		return false
	}
	delete(e.pending, seq)
	if res.Kind != s.kind || res.Name != s.name {
		if e.fatal == nil {
			e.fatal = &NonDeterminismError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, Seq: seq,
				Expected: res.Kind + " " + res.Name, Found: s.kind + " " + s.name}
		}
		return false
	}
	s.res, s.task, s.child = res, nil, nil
	e.resolve(s)
	if res.CompletedAt.After(e.now) {
		e.now = res.CompletedAt
	}
	e.deliveries = append(e.deliveries, seq)
	return true
}

// replayHandler drops log records while the code re-executes decisions it
// already made, so a workflow logs each line once.
type replayHandler struct {
	e *execution
	h slog.Handler
}

func (r *replayHandler) quiet() bool { return r.e.replay || r.e.killed }

func (r *replayHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !r.quiet() && r.h.Enabled(ctx, l)
}
func (r *replayHandler) Handle(ctx context.Context, rec slog.Record) error {
	if r.quiet() {
		return nil
	}
	return r.h.Handle(ctx, rec)
}
func (r *replayHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &replayHandler{e: r.e, h: r.h.WithAttrs(a)}
}
func (r *replayHandler) WithGroup(g string) slog.Handler {
	return &replayHandler{e: r.e, h: r.h.WithGroup(g)}
}
