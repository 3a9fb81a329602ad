package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// unwind is the panic value that stops workflow code when it must wait for
// a result that is not recorded yet, or when replay found a problem. The
// code is re-executed from the start on the next workflow task.
type unwind struct{}

type timerReq struct {
	seq int
	at  time.Time
}

// execution is one replay of a run's code inside one workflow task.
type execution struct {
	ctx context.Context
	w   *Worker
	run *kv.Run
	// recorded is how many commands the run had when the task began.
	recorded int
	cmds     []kv.Command
	seq      int
	results  map[int]*kv.Result
	now      time.Time
	logger   *slog.Logger

	newSteps  []steps.Task
	newTimers []timerReq
	blockedOn string
	unwinding bool
	// fatal fails the run (non-determinism); transient retries the task.
	fatal     error
	transient error
	// compensating marks the steps scheduled while a saga compensates;
	// compensationErr keeps a compensation that failed for good, so the run
	// ends compensation_failed even if the code ignores the error.
	compensating    bool
	compensationErr *CompensationError
	// wakeSeq is the position whose result caused this task.
	wakeSeq int
	// events are published once the decisions of this task are recorded.
	events []wire.Event
}

func newExecution(ctx context.Context, w *Worker, run *kv.Run) *execution {
	e := &execution{
		ctx:      ctx,
		w:        w,
		run:      run,
		recorded: len(run.Commands),
		cmds:     append([]kv.Command(nil), run.Commands...),
		results:  map[int]*kv.Result{},
		now:      run.CreatedAt,
	}
	e.logger = slog.New(&replayHandler{e: e, h: w.log.Handler()}).With("workflow", run.Workflow, "workflow_id", run.ID)
	return e
}

func (e *execution) emit(ev wire.Event) { e.events = append(e.events, ev) }

func (e *execution) replaying() bool { return e.seq < e.recorded }

func (e *execution) stop() { e.unwinding = true; panic(unwind{}) }

// next claims the next position for a decision of the given kind and name.
// A position already recorded must hold the same decision; a new one is
// appended. It reports whether the decision is new.
func (e *execution) next(kind, name string) (int, bool) {
	if e.unwinding {
		e.stop()
	}
	e.seq++
	if e.seq <= len(e.cmds) {
		c := e.cmds[e.seq-1]
		if c.Kind != kind || c.Name != name {
			e.fail(&NonDeterminismError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, Seq: e.seq,
				Expected: c.Kind + " " + c.Name, Found: kind + " " + name})
		}
		return e.seq, false
	}
	e.cmds = append(e.cmds, kv.Command{Seq: e.seq, Kind: kind, Name: name, Compensation: e.compensating && kind == kv.KindStep})
	return e.seq, true
}

func (e *execution) fail(err error) {
	if e.fatal == nil {
		e.fatal = err
	}
	e.stop()
}

func (e *execution) retryLater(err error) {
	if e.transient == nil {
		e.transient = err
	}
	e.stop()
}

func (e *execution) block(name string) {
	if e.blockedOn == "" {
		e.blockedOn = name
	}
	e.stop()
}

// result returns the recorded result at seq, or nil when there is none yet.
func (e *execution) result(seq int) *kv.Result {
	if r, ok := e.results[seq]; ok {
		return r
	}
	key := kv.StepKey(e.run.ID, seq)
	if r := e.w.cache.get(key); r != nil {
		e.results[seq] = r
		return r
	}
	if seq > e.recorded && seq != e.wakeSeq {
		// Decided in this very task: its result cannot be recorded yet,
		// except after a crash, and then the task that reports it is
		// still to come (it carries the position in wakeSeq).
		return nil
	}
	r, _, err := kv.Get[kv.Result](e.ctx, e.w.env.Buckets.Steps, key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.retryLater(fmt.Errorf("reading result %s: %w", key, err))
	}
	e.results[seq] = &r
	e.w.cache.put(key, &r)
	return &r
}

// consume returns the result at seq for a decision of kind and name, blocking
// the code when there is none, and advances the workflow clock.
func (e *execution) consume(seq int, kind, name string) *kv.Result {
	r := e.result(seq)
	if r == nil {
		e.block(name)
	}
	if r.Kind != kind || r.Name != name {
		e.fail(&NonDeterminismError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, Seq: seq,
			Expected: r.Kind + " " + r.Name, Found: kind + " " + name})
	}
	if r.CompletedAt.After(e.now) {
		e.now = r.CompletedAt
	}
	return r
}

// execute runs the workflow code once from the start. done is false when the
// code stopped to wait (or replay failed); then out and err are meaningless.
func (e *execution) execute(def Registrable) (done bool, out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(unwind); ok {
				done = false
				return
			}
			done, out = true, nil
			err = &steps.Error{Type: steps.TypePanic, Message: fmt.Sprintf("workflow code panicked: %v\n%s", p, debug.Stack())}
		}
	}()
	out, err = def.execute(&wctx{e: e, opts: e.w.defaultStepOptions}, e.run.Input)
	if e.seq < len(e.cmds) && e.fatal == nil {
		c := e.cmds[e.seq]
		e.fatal = &NonDeterminismError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, Seq: e.seq + 1,
			Expected: c.Kind + " " + c.Name, Found: "the workflow returning"}
		return false, nil, nil
	}
	return true, out, err
}

// replayHandler drops log records while the code re-executes decisions it
// already made, so a workflow logs each line once.
type replayHandler struct {
	e *execution
	h slog.Handler
}

func (r *replayHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !r.e.replaying() && r.h.Enabled(ctx, l)
}
func (r *replayHandler) Handle(ctx context.Context, rec slog.Record) error {
	if r.e.replaying() {
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
