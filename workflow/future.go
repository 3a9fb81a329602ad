package workflow

import (
	"fmt"
	"github.com/jetflow-dev/jetflow/internal/runner"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// Future is the eventual result of a step or timer. Get waits for it; two
// steps started before either Get run in parallel.
type Future[T any] struct {
	e *execution
	s *slot
	// discard skips decoding the output (compensations).
	discard bool
}

// Awaitable is any Future, as a Selector takes it.
type Awaitable interface {
	slot() *slot
}

func (f Future[T]) slot() *slot { return f.s }

// IsReady reports whether Get would return without waiting.
func (f Future[T]) IsReady() bool { return f.s != nil && f.s.ready }

// Get returns the step's output, a *StepError when the step failed for
// good, or a *PayloadDecodeError when its output does not decode into T.
// Inside workflow code only: when the result is not known yet, the
// code waits here (the run stays in the worker's memory, or is rebuilt from
// its history if the worker lets it go).
func (f Future[T]) Get(ctx Context) (T, error) {
	var zero T
	if f.s == nil {
		return zero, fmt.Errorf("jetflow: Get on a zero Future")
	}
	s := f.s
	c := ctx.state()
	f.e.wait(s.name, func() bool { return s.ready || c.Err() != nil })
	if !s.ready {
		return zero, c.Err()
	}
	if s.err != nil {
		return zero, s.err
	}
	r := s.res
	if r == nil {
		return zero, nil
	}
	if r.Error != nil && s.kind == kv.KindChild {
		return zero, childError(s, r)
	}
	if r.Error != nil {
		return zero, &StepError{Step: s.name, Seq: s.seq, Attempts: r.Attempts, Exhausted: r.Error.Exhausted,
			Err: &steps.Error{Type: r.Error.Type, Message: r.Error.Message, NonRetryable: r.Error.NonRetryable, Details: r.Error.Details}}
	}
	var out T
	if (s.kind == kv.KindStep || s.kind == kv.KindChild) && !f.discard {
		what := "the output of step " + s.name
		if s.kind == kv.KindChild {
			what = "the output of child workflow " + s.name + " " + r.Ref
		}
		if err := decodePayload(what, r.Output, &out); err != nil {
			return zero, err
		}
	}
	return out, nil
}

// Seq is the future's position in the run's history.
func (f Future[T]) Seq() int {
	if f.s == nil {
		return 0
	}
	return f.s.seq
}

// ExecuteStep schedules a step and returns its future at once. The step runs
// on whichever worker serves it, with the options of ctx (see WithStepOptions).
// A step that cannot be scheduled (an invalid name, an input that does not
// encode or does not fit in a message) resolves its future with the error at
// once; the refusal is recorded, so replay takes the same path.
func ExecuteStep[I, O any](ctx Context, step *steps.Definition[I, O], in I) Future[O] {
	s := scheduleStep(ctx, step.Name(), step.Validate, in)
	return Future[O]{e: ctx.state().e, s: s}
}

// scheduleStep claims a position for a step and, when it is new, records
// the decision and queues the step's task; a refusal resolves the slot.
func scheduleStep(ctx Context, name string, validate func() error, in any) *slot {
	st := ctx.state()
	e := st.e
	if err := st.Err(); err != nil {
		return canceledStep(e, kv.KindStep, name, err)
	}
	seq, rec := e.claim(kv.KindStep, name)
	s := &slot{seq: seq, kind: kv.KindStep, name: name}
	if rec != nil && rec.Refused != nil {
		s.err = refusal(name, seq, rec.Refused)
		e.resolve(s)
		return s
	}
	var refused *steps.Error
	data, err := kv.MarshalPayload(in)
	switch {
	case validate() != nil:
		refused = steps.NonRetryable(TypeInvalidName, "%q is not a valid step name (letters, digits, '-' and '_')", name)
	case err != nil:
		refused = steps.NonRetryable(steps.TypeBadInput, "encoding the input of step %s: %v", name, err)
	case e.w.env.MaxPayload > 1024 && int64(len(data)) > e.w.env.MaxPayload-1024:
		refused = steps.NonRetryable(TypePayloadTooLarge, "the input of step %s is %d bytes, over the server's max_payload of %d", name, len(data), e.w.env.MaxPayload)
	}
	if rec == nil && refused != nil {
		info := kv.ErrorInfo{Type: refused.Type, Message: refused.Message, NonRetryable: true, Step: name, Seq: seq}
		e.decide(kv.Decision{Seq: seq, Kind: kv.KindStep, Name: name, Compensation: e.compensating, Refused: &info})
		s.err = refusal(name, seq, &info)
		e.resolve(s)
		return s
	}
	at := e.w.now()
	if rec != nil {
		at = rec.At
	}
	t := runner.NewTask(e.run.Workflow, e.run.ID, name, seq, data, st.opts, at)
	t.Exec, t.Inc, t.Reuse = e.run.Exec, e.run.Inc, e.run.Reuse
	t.Compensation = e.compensating
	if rec == nil {
		// The step's policy and a digest of its input are recorded with
		// the decision: the runner takes them from there, not from the
		// task message.
		policy, err := runner.EncodePolicy(&t)
		if err != nil {
			e.fail(fmt.Errorf("encoding the options of step %s: %w", name, err))
		}
		e.decide(kv.Decision{Seq: seq, Kind: kv.KindStep, Name: name, Compensation: e.compensating, At: at, Policy: policy, Digest: runner.Digest(data)})
	}
	s.task = &t
	e.pending[seq] = s
	if rec == nil {
		e.newSteps = append(e.newSteps, t)
	}
	return s
}

// refusal is the error of a step that could not be scheduled, the same
// whether the decision is new or replayed.
func refusal(name string, seq int, info *kv.ErrorInfo) error {
	return &StepError{Step: name, Seq: seq, Err: &steps.Error{Type: info.Type, Message: info.Message, NonRetryable: true}}
}

// NewTimer starts a durable timer and returns a future that resolves after d.
// The timer lives in the server, so it fires even if every worker restarts.
func NewTimer(ctx Context, d time.Duration) Future[struct{}] {
	e := ctx.state().e
	if err := ctx.Err(); err != nil {
		return Future[struct{}]{e: e, s: canceledStep(e, kv.KindTimer, "Sleep", err)}
	}
	seq, rec := e.claim(kv.KindTimer, "Sleep")
	s := &slot{seq: seq, kind: kv.KindTimer, name: "Sleep"}
	if rec != nil {
		s.at = rec.At
	} else {
		s.set = e.w.now()
		s.at = s.set.Add(d)
		e.decide(kv.Decision{Seq: seq, Kind: kv.KindTimer, Name: "Sleep", At: s.at})
		e.newTimers = append(e.newTimers, timerReq{seq: seq, at: s.at})
	}
	e.pending[seq] = s
	return Future[struct{}]{e: e, s: s}
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
	seq, rec := e.claim(kv.KindSideEffect, "SideEffect")
	var data []byte
	if rec != nil {
		data = rec.Value
	} else {
		var err error
		if data, err = kv.MarshalPayload(fn()); err != nil {
			e.fail(fmt.Errorf("jetflow: encoding a side effect: %w", err))
		}
		if limit := e.w.env.MaxPayload / 4; limit > 0 && int64(len(data)) > limit {
			e.fail(&PayloadTooLargeError{What: "the value of side effect " + fmt.Sprint(seq) + " of run " + e.run.ID, Size: len(data), Max: limit})
		}
		e.decide(kv.Decision{Seq: seq, Kind: kv.KindSideEffect, Name: "SideEffect", Value: data})
	}
	var out T
	if err := decodePayload("the value of side effect "+fmt.Sprint(seq), data, &out); err != nil {
		e.fail(err)
	}
	return out
}
