package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// ErrRunClosed matches (errors.Is) every *RunClosedError.
var ErrRunClosed = errors.New("jetflow: run closed")

// RunClosedError is a signal, cancellation or termination sent to a run that
// has ended: nothing will receive it.
type RunClosedError struct {
	WorkflowID string
	Status     string
}

func (e *RunClosedError) Error() string {
	return fmt.Sprintf("jetflow: run %s has ended (%s): nothing more can be sent to it", e.WorkflowID, e.Status)
}

// Is matches ErrRunClosed.
func (e *RunClosedError) Is(target error) bool { return target == ErrRunClosed }

// Signal sends v to the run id as signal sig. It returns once the server has
// stored the signal: the run receives it when it next moves, even if no
// worker is up now. A run that is unknown gives ErrNotFound, one that has
// ended a *RunClosedError, an invalid signal name ErrInvalidName.
func Signal[T any](ctx context.Context, c *Client, id string, sig *SignalDef[T], v T) error {
	if !steps.ValidName(sig.name) {
		return fmt.Errorf("%w: signal %q (letters, digits, '-' and '_')", ErrInvalidName, sig.name)
	}
	payload, err := kv.MarshalPayload(v)
	if err != nil {
		return fmt.Errorf("jetflow: encoding signal %s: %w", sig.name, err)
	}
	return c.SignalRaw(ctx, id, sig.name, payload)
}

// SignalRaw is Signal with a payload already encoded as msgpack, in the
// wire format of payloads (see the README's "Payloads").
func (c *Client) SignalRaw(ctx context.Context, id, name string, payload []byte) error {
	if !steps.ValidName(name) {
		return fmt.Errorf("%w: signal %q (letters, digits, '-' and '_')", ErrInvalidName, name)
	}
	return c.send(ctx, id, name, payload)
}

// SignalWithStart sends the signal to the run id of def, starting it first
// with in when the ID has no open run (as Start does, with opts); a run
// that starts here receives the signal before anything else happens to it.
// An open run of def is signaled whatever its input was.
func SignalWithStart[I, O, T any](ctx context.Context, c *Client, def *Definition[I, O], id string, in I, sig *SignalDef[T], v T, opts ...StartOption) (*Run[O], error) {
	run, err := Start(ctx, c, def, id, in, opts...)
	var ae *AlreadyStartedError
	if errors.As(err, &ae) && ae.Workflow == def.Name() && !kv.Terminal(ae.Status) {
		run, err = Attach(c, def, id), nil
	}
	if err != nil {
		return nil, err
	}
	if err := Signal(ctx, c, id, sig, v); err != nil {
		return nil, err
	}
	return run, nil
}

// Cancel asks the run to stop. Its code sees ctx.Err() and gets a
// *CanceledError from what it waits on; steps in flight see their context
// canceled; compensations (Saga.Compensate, or code in a
// NewDisconnectedContext) still run. The run ends canceled when its code
// returns the *CanceledError. Canceling twice is canceling once; canceling a
// run that has ended gives a *RunClosedError.
func (c *Client) Cancel(ctx context.Context, id, reason string) error {
	return c.send(ctx, id, kv.SignalCancel, []byte(reason))
}

// Terminate ends the run at once: no more of its code runs, steps in flight
// see their context canceled, its pending retries and timers are dropped,
// and it ends terminated with the reason. Nothing is compensated.
func (c *Client) Terminate(ctx context.Context, id, reason string) error {
	return c.send(ctx, id, kv.SignalTerminate, []byte(reason))
}

// send publishes a signal on the run's signal subject, after checking that
// the run exists and is open.
func (c *Client) send(ctx context.Context, id, name string, payload []byte) error {
	run, err := c.load(ctx, id)
	if err != nil {
		return err
	}
	if kv.Terminal(run.Status) {
		return &RunClosedError{WorkflowID: id, Status: run.Status}
	}
	msg := wire.SignalMsg{WorkflowID: id, Workflow: run.Workflow, Name: name, Payload: payload}
	if b, ok, err := lastBatch(ctx, c.env, kv.ExecKey(id, run.Inc, run.Exec)); err == nil && ok {
		msg.Owner = b.Owner
	}
	data, err := kv.Marshal(msg)
	if err != nil {
		return err
	}
	if max := c.env.MaxPayload - 1024; max > 0 && int64(len(data)) > max {
		return &PayloadTooLargeError{What: "signal " + name + " to run " + id, Size: len(payload), Max: c.env.MaxPayload}
	}
	subj := c.env.Names.SignalSubject(run.Workflow, id, run.Inc)
	if err := c.env.Publish(ctx, subj, "", data); err != nil {
		return c.env.Explain(ctx, err, c.env.Names.TaskStream())
	}
	return nil
}
