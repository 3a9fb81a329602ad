package workflow

import (
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// Future is the eventual result of a step or timer. Get waits for it; two
// steps started before either Get run in parallel.
type Future[T any] struct {
	e    *execution
	seq  int
	kind string
	name string
	err  error
	// discard skips decoding the output (compensations).
	discard bool
}

// Get returns the step's output, or a *StepError when the step failed for
// good. Inside workflow code only: when the result is not recorded yet, the
// code stops here and resumes on a later workflow task.
func (f Future[T]) Get(ctx Context) (T, error) {
	var zero T
	if f.err != nil {
		return zero, f.err
	}
	r := f.e.consume(f.seq, f.kind, f.name)
	if r.Error != nil {
		return zero, &StepError{Step: f.name, Seq: f.seq, Attempts: r.Attempts, Exhausted: r.Error.Exhausted,
			Err: &steps.Error{Type: r.Error.Type, Message: r.Error.Message, NonRetryable: r.Error.NonRetryable, Details: r.Error.Details}}
	}
	var out T
	if f.kind == kv.KindStep && !f.discard {
		if err := kv.Unmarshal(r.Output, &out); err != nil {
			return zero, fmt.Errorf("jetflow: decoding the result of step %s: %w", f.name, err)
		}
	}
	return out, nil
}

// Seq is the future's position in the run's history.
func (f Future[T]) Seq() int { return f.seq }

// ExecuteStep schedules a step and returns its future at once. The step runs
// on whichever worker serves it, with the options of ctx (see WithStepOptions).
func ExecuteStep[I, O any](ctx Context, step *steps.Definition[I, O], in I) Future[O] {
	s := ctx.state()
	e := s.e
	seq, isNew := e.next(kv.KindStep, step.Name())
	f := Future[O]{e: e, seq: seq, kind: kv.KindStep, name: step.Name()}
	if !isNew {
		return f
	}
	if err := step.Validate(); err != nil {
		f.err = err
		return f
	}
	data, err := kv.Marshal(in)
	if err != nil {
		f.err = fmt.Errorf("jetflow: encoding the input of step %s: %w", step.Name(), err)
		return f
	}
	if max := e.w.env.MaxPayload - 1024; max > 0 && int64(len(data)) > max {
		f.err = &PayloadTooLargeError{What: "input of step " + step.Name(), Size: len(data), Max: e.w.env.MaxPayload}
		return f
	}
	t := steps.NewTask(e.run.Workflow, e.run.ID, step.Name(), seq, data, s.opts, time.Now())
	t.Compensation = e.compensating
	e.newSteps = append(e.newSteps, t)
	return f
}

// NewTimer starts a durable timer and returns a future that resolves after d.
// The timer lives in the server, so it fires even if every worker restarts.
func NewTimer(ctx Context, d time.Duration) Future[struct{}] {
	e := ctx.state().e
	seq, isNew := e.next(kv.KindTimer, "Sleep")
	if isNew {
		at := time.Now().Add(d)
		e.cmds[seq-1].At = at
		e.newTimers = append(e.newTimers, timerReq{seq: seq, at: at})
	}
	return Future[struct{}]{e: e, seq: seq, kind: kv.KindTimer, name: "Sleep"}
}

// Sleep waits durably for d: the run is suspended, no worker holds it, and
// it resumes after d even across worker and server restarts.
func Sleep(ctx Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	_, err := NewTimer(ctx, d).Get(ctx)
	return err
}

// SideEffect runs fn once, records its value, and returns the recorded value
// on every replay: the way to use randomness, UUIDs or the wall clock in
// workflow code.
func SideEffect[T any](ctx Context, fn func() T) T {
	e := ctx.state().e
	seq, _ := e.next(kv.KindSideEffect, "SideEffect")
	r := e.result(seq)
	if r == nil {
		data, err := kv.Marshal(fn())
		if err != nil {
			e.fail(fmt.Errorf("jetflow: encoding a side effect: %w", err))
		}
		res := kv.Result{Kind: kv.KindSideEffect, Name: "SideEffect", Output: data, CompletedAt: time.Now().UTC()}
		key := kv.StepKey(e.run.ID, seq)
		if _, err := kv.Create(e.ctx, e.w.env.Buckets.Steps, key, res); err != nil {
			// Another replay recorded first (or the write failed): use
			// what is recorded, or retry the task.
			e.retryLater(fmt.Errorf("recording side effect %s: %w", key, err))
		}
		e.results[seq] = &res
	}
	r = e.consume(seq, kv.KindSideEffect, "SideEffect")
	var out T
	if err := kv.Unmarshal(r.Output, &out); err != nil {
		e.fail(fmt.Errorf("jetflow: decoding a side effect: %w", err))
	}
	return out
}
