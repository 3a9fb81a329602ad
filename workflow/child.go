package workflow

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// A child workflow is a run of its own (its own ID, history, status, and
// line in list) that a parent's code started and may wait for. The parent's
// history records the decision to start it at a position, like a step; the
// worker that commits the decision creates the child's run record, which
// links back to that position, and a parent rebuilt from its history
// creates it again only if it is missing (the record is create-only and its
// link says whose it is), so a replaying parent never starts a child twice.
// When the child ends, its worker records the outcome at the parent's
// position (create-only) and wakes the parent, before the child's own record
// says it ended: a crash in between is finished by whichever worker closes
// the child again.

// ParentClosePolicy says what happens to a child workflow that is still
// running when its parent is canceled or ends.
type ParentClosePolicy int

const (
	// ParentCloseTerminate, the default: the child is terminated when the
	// parent ends, however it ends (a parent canceled ends once its code
	// returns).
	ParentCloseTerminate ParentClosePolicy = iota
	// ParentCloseCancel: the child is asked to cancel as soon as the parent
	// is (so it compensates while the parent does, and a parent waiting
	// for it in a NewDisconnectedContext sees it end), and when the parent
	// ends.
	ParentCloseCancel
	// ParentCloseAbandon: the child runs on, whatever happens to the parent.
	ParentCloseAbandon
)

func (p ParentClosePolicy) String() string {
	switch p {
	case ParentCloseTerminate:
		return "terminate"
	case ParentCloseCancel:
		return "cancel"
	case ParentCloseAbandon:
		return "abandon"
	}
	return "ParentClosePolicy(" + strconv.Itoa(int(p)) + ")"
}

// ChildOptions configure the child workflows started from a Context (see
// WithChildOptions).
type ChildOptions struct {
	// ID is the child's workflow ID. Empty: "<parent ID>-c<position>" (with
	// "-r<n>" for a reused parent ID and "-x<n>" after continue-as-new
	// before the position), the same on every replay. An ID that has a run
	// not started by this position resolves the child's future with a
	// *ChildError of type AlreadyStarted.
	ID string
	// ParentClosePolicy is what happens to the child when the parent is
	// canceled or ends first (default ParentCloseTerminate).
	ParentClosePolicy ParentClosePolicy
}

// WithChildOptions returns a Context whose child workflows start with opts.
// Set a new ID for each child: two children with one ID are one run.
func WithChildOptions(ctx Context, opts ChildOptions) Context {
	s := *ctx.state()
	s.child = opts
	return &s
}

// ChildFuture is the eventual outcome of a child workflow. Get returns the
// child's output, or a *ChildError when it did not complete (errors.Is
// ErrCanceled when it was canceled); a Selector takes it like any Future.
type ChildFuture[O any] struct {
	Future[O]
	id string
}

// ID is the child's workflow ID: Describe, Signal, Cancel and list know it
// by this ID.
func (f ChildFuture[O]) ID() string { return f.id }

// TypeChildFailed is the error type recorded for a run whose code returned
// a *ChildError.
const TypeChildFailed = "ChildFailed"

// ChildError is a child workflow that did not complete: it failed, was
// canceled or terminated, or could not start (Status ""). Err is why: a
// *CanceledError for a canceled child, otherwise a *steps.Error with the
// child's error type and message (or a *NonDeterminismError or
// *CompensationError when the child ended with one).
type ChildError struct {
	Workflow   string
	WorkflowID string
	Status     string
	Err        error
}

func (e *ChildError) Error() string {
	if e.Status == "" {
		return fmt.Sprintf("child workflow %s %s did not start: %v", e.Workflow, e.WorkflowID, e.Err)
	}
	return fmt.Sprintf("child workflow %s %s ended %s: %v", e.Workflow, e.WorkflowID, e.Status, e.Err)
}

func (e *ChildError) Unwrap() error { return e.Err }

// ExecuteChild starts def as a child workflow with input in and returns its
// future at once. The child runs as a run of its own, on whichever worker
// serves def; its ID and what happens to it when this run is canceled or
// ends come from the Context's ChildOptions (WithChildOptions). A child
// that cannot be started (an invalid ID, an input that does not encode or
// is over a quarter of the server's max_payload) resolves its future with a
// *ChildError at once; the refusal is recorded, so replay takes the same
// path. On a canceled Context the future resolves with the *CanceledError
// and nothing starts.
func ExecuteChild[I, O any](ctx Context, def *Definition[I, O], in I) ChildFuture[O] {
	st := ctx.state()
	e := st.e
	name := def.Name()
	if err := st.Err(); err != nil {
		return ChildFuture[O]{Future: Future[O]{e: e, s: canceledStep(e, kv.KindChild, name, err)}}
	}
	seq, rec := e.claim(kv.KindChild, name)
	id := st.child.ID
	if id == "" {
		id = defaultChildID(&e.run, seq)
	}
	s := &slot{seq: seq, kind: kv.KindChild, name: name}
	f := ChildFuture[O]{Future: Future[O]{e: e, s: s}, id: id}
	if rec != nil && rec.Refused != nil {
		s.err = &ChildError{Workflow: name, WorkflowID: id, Err: &steps.Error{Type: rec.Refused.Type, Message: rec.Refused.Message, NonRetryable: true}}
		e.resolve(s)
		return f
	}
	if rec != nil {
		var c kv.ChildStart
		if err := kv.Unmarshal(rec.Value, &c); err != nil {
			e.fail(fmt.Errorf("%w: the child decision at position %d of %s: %v", kv.ErrCorrupt, seq, e.run.ID, err))
		}
		if c.ID != id {
			e.fail(&NonDeterminismError{Workflow: e.run.Workflow, WorkflowID: e.run.ID, Seq: seq,
				Expected: "child " + name + " " + c.ID, Found: "child " + name + " " + id})
		}
		s.child = &c
		e.pending[seq] = s
		return f
	}
	data, err := kv.MarshalPayload(in)
	var refused *steps.Error
	switch {
	case ValidateID(id) != nil:
		refused = steps.NonRetryable(TypeInvalidID, "child workflow ID %q: %s", id, kv.IDProblem(id))
	case st.child.ParentClosePolicy < ParentCloseTerminate || st.child.ParentClosePolicy > ParentCloseAbandon:
		refused = steps.NonRetryable(TypeInvalidOption, "parent close policy %d: want ParentCloseTerminate, ParentCloseCancel or ParentCloseAbandon", int(st.child.ParentClosePolicy))
	case err != nil:
		refused = steps.NonRetryable(steps.TypeBadInput, "encoding the input of child workflow %s: %v", name, err)
	case e.w.env.MaxPayload > 0 && int64(len(data)) > e.w.env.MaxPayload/4:
		refused = steps.NonRetryable(TypePayloadTooLarge, "the input of child workflow %s is %d bytes, over a quarter of the server's max_payload (%d)", name, len(data), e.w.env.MaxPayload)
	}
	if refused != nil {
		info := kv.ErrorInfo{Type: refused.Type, Message: refused.Message, NonRetryable: true, Step: name, Seq: seq}
		e.decide(kv.Decision{Seq: seq, Kind: kv.KindChild, Name: name, Compensation: e.compensating, Refused: &info})
		s.err = &ChildError{Workflow: name, WorkflowID: id, Err: refused}
		e.resolve(s)
		return f
	}
	c := kv.ChildStart{ID: id, Input: data, Policy: int(st.child.ParentClosePolicy)}
	value, err := kv.Marshal(c)
	if err != nil {
		e.fail(fmt.Errorf("encoding the child decision of %s: %w", name, err))
	}
	e.decide(kv.Decision{Seq: seq, Kind: kv.KindChild, Name: name, Compensation: e.compensating, At: e.w.now(), Value: value})
	s.child = &c
	e.pending[seq] = s
	e.newChildren = append(e.newChildren, seq)
	return f
}

// defaultChildID is the ID of the child at position seq of run when the
// code gives none.
func defaultChildID(run *kv.Run, seq int) string {
	var b strings.Builder
	b.WriteString(run.ID)
	if run.Reuse > 0 {
		b.WriteString("-r" + strconv.Itoa(run.Reuse))
	}
	if run.Exec > 1 {
		b.WriteString("-x" + strconv.Itoa(run.Exec))
	}
	b.WriteString("-c" + strconv.Itoa(seq))
	return b.String()
}

// childError is the error a parent's Get returns for a child that ended
// other than completed.
func childError(s *slot, r *kv.Result) error {
	ce := &ChildError{Workflow: s.name, WorkflowID: r.Ref, Status: r.Status}
	var re *RunError
	if errors.As(runError(kv.Run{ID: r.Ref, Status: r.Status, Error: r.Error}), &re) {
		ce.Err = re.Cause
	}
	return ce
}

// linkOf is the parent link a child started at s carries.
func (w *Worker) linkOf(x *execution, s *slot) *kv.ParentLink {
	return &kv.ParentLink{ID: x.run.ID, Workflow: x.run.Workflow, Inc: x.run.Inc, Exec: max(x.run.Exec, 1), Seq: s.seq,
		Policy: s.child.Policy, Owner: w.instance}
}

// startChild creates the run record of the child decided at s and announces
// it, unless the record exists: a child this position started already is
// only announced again while it is still pending; an ID that has another
// run resolves the position with an AlreadyStarted error.
func (w *Worker) startChild(ctx context.Context, x *execution, s *slot) error {
	c := s.child
	link := w.linkOf(x, s)
	run := kv.Run{ID: c.ID, Workflow: s.name, Status: kv.StatusPending, Input: c.Input, CreatedAt: time.Now().UTC(),
		Format: kv.FormatHistory, Exec: 1, Inc: kv.NewIncarnation(), Parent: link,
		// The child's spans join its parent's trace.
		TraceParent: x.run.TraceParent, TraceState: x.run.TraceState}
	_, err := kv.Create(ctx, w.env.Buckets.Runs, c.ID, run)
	created := err == nil
	if errors.Is(err, kv.ErrExists) {
		existing, _, gerr := kv.Get[kv.Run](ctx, w.env.Buckets.Runs, c.ID)
		switch {
		case gerr != nil && !errors.Is(gerr, kv.ErrCorrupt):
			// Purged meanwhile, or unreadable: the task is retried.
			return fmt.Errorf("starting child %s of %s: %w", c.ID, x.run.ID, gerr)
		case gerr == nil && existing.Parent.Same(link):
			if existing.Status != kv.StatusPending {
				return nil
			}
			run = existing // created, maybe never announced
		default:
			what := "a record that does not decode"
			if gerr == nil {
				what = fmt.Sprintf("a %s run of %s", existing.Status, existing.Workflow)
			}
			return w.refuseChild(ctx, x, s, &kv.ErrorInfo{Type: TypeAlreadyStarted, NonRetryable: true,
				Message: fmt.Sprintf("child workflow ID %s has %s that this run did not start", c.ID, what)})
		}
	} else if err != nil {
		return fmt.Errorf("starting child %s of %s: %w", c.ID, x.run.ID, err)
	}
	hint, err := kv.Marshal(wire.WorkflowTask{WorkflowID: c.ID, Workflow: s.name, Reason: wire.ReasonStart, Inc: run.Inc})
	if err != nil {
		return err
	}
	if err := w.env.Publish(ctx, w.env.Names.StartSubject(s.name), "", hint); err != nil {
		return fmt.Errorf("announcing child %s of %s: %w", c.ID, x.run.ID, err)
	}
	if created {
		w.env.Emit(wire.Event{Event: wire.EventChildStarted, Workflow: x.run.Workflow, WorkflowID: x.run.ID, Seq: s.seq, Step: s.name,
			ChildID: c.ID, Worker: w.cfg.name})
	}
	return nil
}

// refuseChild records that the child at s could not start and wakes the
// parent to see it.
func (w *Worker) refuseChild(ctx context.Context, x *execution, s *slot, info *kv.ErrorInfo) error {
	res := kv.Result{Kind: kv.KindChild, Name: s.name, Error: info, Ref: s.child.ID, CompletedAt: time.Now().UTC(), Worker: w.cfg.name}
	if _, err := kv.Create(ctx, w.env.Buckets.Steps, kv.StepKey(x.ek, s.seq), res); err != nil && !errors.Is(err, kv.ErrExists) {
		return fmt.Errorf("recording that child %s of %s did not start: %w", s.child.ID, x.run.ID, err)
	}
	return w.env.PublishWorkflowTask(ctx, wire.WorkflowTask{WorkflowID: x.run.ID, Workflow: x.run.Workflow, Reason: wire.ReasonResult,
		Seq: s.seq, Exec: x.run.Exec, Owner: w.instance}, wire.MsgID(x.ek, s.seq, 0, "child"))
}

// notifyParent records a child's outcome at its parent's position and wakes
// the parent: before the child's record says it ended, so that a crash in
// between is finished by whoever closes the child again. A parent that has
// ended (or whose ID a new run has taken) is left alone.
func notifyParent(ctx context.Context, env *wire.Env, child *kv.Run, cl *kv.Closing, now time.Time, worker string) error {
	p := child.Parent
	parent, _, err := kv.Get[kv.Run](ctx, env.Buckets.Runs, p.ID)
	if errors.Is(err, kv.ErrNotFound) || errors.Is(err, kv.ErrCorrupt) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the parent %s of %s: %w", p.ID, child.ID, err)
	}
	if parent.Inc != p.Inc || kv.Terminal(parent.Status) || max(parent.Exec, 1) != max(p.Exec, 1) {
		return nil
	}
	pek := kv.ExecKey(p.ID, p.Inc, p.Exec)
	res := kv.Result{Kind: kv.KindChild, Name: child.Workflow, Output: cl.Output, Error: cl.Error, Ref: child.ID, Status: cl.Status,
		ScheduledAt: child.CreatedAt, StartedAt: child.StartedAt, CompletedAt: now, Worker: worker}
	if _, err := kv.Create(ctx, env.Buckets.Steps, kv.StepKey(pek, p.Seq), res); err != nil && !errors.Is(err, kv.ErrExists) {
		return fmt.Errorf("recording child %s's outcome in its parent %s: %w", child.ID, p.ID, err)
	}
	if err := env.PublishWorkflowTask(ctx, wire.WorkflowTask{WorkflowID: p.ID, Workflow: p.Workflow, Reason: wire.ReasonResult,
		Seq: p.Seq, Exec: max(p.Exec, 1), Owner: p.Owner}, wire.MsgID(pek, p.Seq, 0, "child")); err != nil {
		return fmt.Errorf("waking the parent %s of %s: %w", p.ID, child.ID, err)
	}
	ev := wire.Event{Event: wire.EventChildCompleted, Workflow: p.Workflow, WorkflowID: p.ID, Seq: p.Seq, Step: child.Workflow,
		ChildID: child.ID, Status: cl.Status, Worker: worker}
	if cl.Error != nil {
		ev.Error, ev.ErrorType = cl.Error.Message, cl.Error.Type
	}
	env.Emit(ev)
	return nil
}

// closeChildren applies the parent close policy to the children of x still
// running as it ends.
func (w *Worker) closeChildren(ctx context.Context, x *execution, cl *kv.Closing) error {
	for _, s := range x.pending {
		if s.child == nil {
			continue
		}
		reason := "parent " + x.run.ID + " ended " + cl.Status
		var err error
		switch ParentClosePolicy(s.child.Policy) {
		case ParentCloseTerminate:
			err = w.signalChild(ctx, x, s, kv.SignalTerminate, reason)
		case ParentCloseCancel:
			err = w.signalChild(ctx, x, s, kv.SignalCancel, reason)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// cancelChildren asks the children of x that follow ParentCloseCancel to
// cancel: x was just canceled.
func (x *execution) cancelChildren() {
	for seq, s := range x.pending {
		if s.child != nil && ParentClosePolicy(s.child.Policy) == ParentCloseCancel {
			x.childCancels = append(x.childCancels, seq)
		}
	}
}

// signalChild sends the engine's signal name (cancel or terminate) to the
// child at s, if it is still this position's child and open. The
// deduplication ID makes sending it again (after a crash, or a cancel and
// then the close) one signal while the server remembers it; the child
// takes a second one as a no-op.
func (w *Worker) signalChild(ctx context.Context, x *execution, s *slot, name, reason string) error {
	child, _, err := kv.Get[kv.Run](ctx, w.env.Buckets.Runs, s.child.ID)
	if errors.Is(err, kv.ErrNotFound) || errors.Is(err, kv.ErrCorrupt) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading child %s of %s: %w", s.child.ID, x.run.ID, err)
	}
	if !child.Parent.Same(w.linkOf(x, s)) || kv.Terminal(child.Status) {
		return nil
	}
	data, err := kv.Marshal(wire.SignalMsg{WorkflowID: child.ID, Workflow: child.Workflow, Name: name, Payload: []byte(reason)})
	if err != nil {
		return err
	}
	subj := w.env.Names.SignalSubject(child.Workflow, child.ID, child.Inc)
	if err := w.env.Publish(ctx, subj, wire.MsgID(x.ek, s.seq, 0, name), data); err != nil {
		return fmt.Errorf("sending %s to child %s of %s: %w", name, child.ID, x.run.ID, err)
	}
	return nil
}
