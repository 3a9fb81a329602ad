package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go/jetstream"
)

// SignalDef names a signal a running workflow can receive and the type of
// its payload. Declare it once and use it on both sides:
//
//	var Confirmed = workflow.NewSignal[Confirmation]("payment-confirmed")
//
//	// in workflow code: wait at most 15 minutes for it
//	timeout := workflow.NewTimer(ctx, 15*time.Minute)
//	var c Confirmation
//	workflow.NewSelector(ctx).
//		AddSignal(Confirmed, func() { c, _ = Confirmed.Receive(ctx) }).
//		AddFuture(timeout, func() {}).
//		Select(ctx)
//
//	// from outside
//	err := workflow.Signal(ctx, client, "order-17", Confirmed, Confirmation{...})
//
// Signals are durable: one sent to a run that is between tasks, or whose
// workers are all down, waits in the task stream. A run receives the
// signals sent to it in the order the server accepted them, each once, and
// its history records them, so a replay receives them at the same points.
type SignalDef[T any] struct {
	name string
}

// NewSignal declares a signal. The name must be a valid name (letters,
// digits, '-' and '_'); Signal refuses an invalid one.
func NewSignal[T any](name string) *SignalDef[T] { return &SignalDef[T]{name: name} }

// Name is the signal's name.
func (s *SignalDef[T]) Name() string { return s.name }

func (s *SignalDef[T]) signalName() string { return s.name }

// SignalChannel is any SignalDef, as a Selector takes it.
type SignalChannel interface {
	signalName() string
}

// Receive returns the oldest signal of this name the run received and has
// not taken yet, waiting for one when there is none. It returns a
// *CanceledError when the run is canceled first (unless ctx is
// disconnected), and a *SignalPayloadError when the payload does not decode
// into T (the signal is then taken: the run goes on).
func (s *SignalDef[T]) Receive(ctx Context) (T, error) {
	var zero T
	c := ctx.state()
	e := c.e
	e.wait("signal "+s.name, func() bool { return len(e.inbox[s.name]) > 0 || c.Err() != nil })
	sig, ok := e.take(s.name)
	if !ok {
		return zero, c.Err()
	}
	return decodeSignal[T](s.name, sig)
}

// TryReceive takes the oldest signal of this name if the run has one, and
// never waits. ok is false when there is none.
func (s *SignalDef[T]) TryReceive(ctx Context) (v T, ok bool, err error) {
	sig, ok := ctx.state().e.take(s.name)
	if !ok {
		return v, false, nil
	}
	v, err = decodeSignal[T](s.name, sig)
	return v, true, err
}

func decodeSignal[T any](name string, sig kv.SignalIn) (T, error) {
	var v T
	if err := decodePayload("signal "+name, sig.Payload, &v); err != nil {
		return v, &SignalPayloadError{Signal: name, Err: err}
	}
	return v, nil
}

// SignalPayloadError is a signal whose payload does not decode into the type
// its SignalDef declares; it wraps the *PayloadDecodeError that says where.
type SignalPayloadError struct {
	Signal string
	Err    error
}

func (e *SignalPayloadError) Error() string {
	// The wrapped error names the signal already.
	return e.Err.Error()
}

func (e *SignalPayloadError) Unwrap() error { return e.Err }

// ErrCanceled matches (errors.Is) every *CanceledError.
var ErrCanceled = errors.New("jetflow: run canceled")

// CanceledError is what waiting workflow code gets once its run is canceled
// (Client.Cancel): Future.Get, Receive and Sleep return it, and steps are no
// longer scheduled. A run whose code returns it (after its compensations,
// which run in a NewDisconnectedContext) ends canceled with the reason.
type CanceledError struct {
	Reason string
}

func (e *CanceledError) Error() string {
	if e.Reason == "" {
		return "jetflow: run canceled"
	}
	return "jetflow: run canceled: " + e.Reason
}

// Is matches ErrCanceled.
func (e *CanceledError) Is(target error) bool { return target == ErrCanceled }

// NewDisconnectedContext returns a Context that is not canceled when the
// run is: the one to run compensations or cleanup in after a cancellation.
// Saga.Compensate uses one by itself.
func NewDisconnectedContext(ctx Context) Context {
	c := *ctx.state()
	c.disconnected = true
	return &c
}

// signalDelivery is a received signal waiting to be taken, with the order in
// which it reached the code (selectors pick the earliest).
type signalDelivery struct {
	sig   kv.SignalIn
	order int
}

// take removes the oldest signal of name from the run's inbox.
func (e *execution) take(name string) (kv.SignalIn, bool) {
	q := e.inbox[name]
	if len(q) == 0 {
		return kv.SignalIn{}, false
	}
	e.inbox[name] = q[1:]
	return q[0].sig, true
}

// deliverSignal hands a signal to the run: into its inbox, or, for the
// engine's own signals, as a cancellation or termination. It reports false
// for a signal delivered before (its sequence is not above the last one).
func (e *execution) deliverSignal(sig kv.SignalIn) bool {
	if sig.Seq <= e.sigSeq {
		return false
	}
	e.sigSeq = sig.Seq
	e.signalsIn = append(e.signalsIn, sig)
	if sig.At.After(e.now) {
		e.now = sig.At
	}
	switch sig.Name {
	case kv.SignalCancel:
		if e.cancel == nil {
			e.cancel = &CanceledError{Reason: string(sig.Payload)}
		}
	case kv.SignalTerminate:
		if e.terminate == nil {
			reason := string(sig.Payload)
			e.terminate = &reason
		}
	default:
		if e.inbox == nil {
			e.inbox = map[string][]signalDelivery{}
		}
		e.ready++
		e.inbox[sig.Name] = append(e.inbox[sig.Name], signalDelivery{sig: sig, order: e.ready})
	}
	return true
}

// canceledStep is the slot of a step or timer asked for after the run was
// canceled: resolved with the cancellation at once, with no position
// claimed (a replay reaches the same point with the same cancellation).
func canceledStep(e *execution, kind, name string, err error) *slot {
	s := &slot{kind: kind, name: name, err: err}
	e.resolve(s)
	return s
}

// signalOrder is the order of the oldest signal of name waiting in the
// inbox, and whether there is one.
func (e *execution) signalOrder(name string) (int, bool) {
	q := e.inbox[name]
	if len(q) == 0 {
		return 0, false
	}
	return q[0].order, true
}

// terminated is how a run ends when it is terminated.
func terminated(reason string) *kv.Closing {
	msg := "terminated"
	if reason != "" {
		msg += ": " + reason
	}
	return &kv.Closing{Status: kv.StatusTerminated, Error: &kv.ErrorInfo{Type: "Terminated", Message: msg, NonRetryable: true}}
}

// maxSignalsPerTask bounds the signals one workflow task takes; the rest
// come with the next.
const maxSignalsPerTask = 1000

// receiveSignals reads the run's signals that came after the last one it
// received, in stream order, and delivers them to the code. It returns how
// many it delivered.
func (w *Worker) receiveSignals(ctx context.Context, x *execution) (int, error) {
	st, err := w.env.Stream(ctx, w.env.Names.TaskStream())
	if err != nil {
		return 0, err
	}
	subj := w.env.Names.SignalSubject(x.run.Workflow, x.run.ID, x.run.Inc)
	n := 0
	for n < maxSignalsPerTask {
		m, err := st.GetMsg(ctx, x.sigSeq+1, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("reading the signals of %s: %w", x.run.ID, err)
		}
		var msg wire.SignalMsg
		sig := kv.SignalIn{Seq: m.Sequence, At: m.Time.UTC()}
		if err := kv.Unmarshal(m.Data, &msg); err != nil {
			// Recorded as received, under a name no code can take, so
			// that it is skipped once and for all.
			sig.Name = "jetflow.undecodable"
			w.log.Warn("jetflow: a signal that does not decode; skipped", "workflow_id", x.run.ID, "seq", m.Sequence, "err", err)
		} else {
			sig.Name, sig.Payload = msg.Name, msg.Payload
		}
		wasCanceled, wasTerminated := x.cancel != nil, x.terminate != nil
		if !x.deliverSignal(sig) {
			break
		}
		n++
		ev := wire.Event{Event: wire.EventSignaled, Step: sig.Name}
		switch sig.Name {
		case kv.SignalCancel:
			ev.Event, ev.Error = wire.EventCancelRequested, string(sig.Payload)
		case kv.SignalTerminate:
			ev.Event, ev.Error = wire.EventTerminateRequested, string(sig.Payload)
		}
		x.emit(ev)
		if sig.Name == kv.SignalCancel && !wasCanceled && !wasTerminated {
			x.cancelChildren()
		}
		if sig.Name == kv.SignalCancel && !wasCanceled && !wasTerminated || sig.Name == kv.SignalTerminate && !wasTerminated {
			// Attempts in flight are told once the history records the
			// cancel (see publish), so that the code sees the cancel
			// before the failure of an attempt it stopped. Once per cancel
			// or terminate: a second cancel must not stop the
			// compensations the first one started. A cancel spares
			// compensations; a terminate does not.
			x.halt = sig.Name
		}
	}
	return n, nil
}
