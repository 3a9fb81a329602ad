package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/internal/tracing"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

// Client starts runs and reads their state. It is safe for concurrent use.
type Client struct {
	cfg config
	env *wire.Env
	// tracer makes the start spans (nil: the config's, see tracer).
	tracer trace.Tracer
	// closes wakes the waits for runs to end.
	closes closeWatch
}

// NewClient connects a client over nc to the namespace's streams and
// buckets. It creates nothing: when they do not exist (no worker has run
// yet, nor Deploy), it returns a *NotDeployedError. Only the options
// WithPrefix, WithName and WithLogger matter to a client.
func NewClient(ctx context.Context, nc *nats.Conn, opts ...Option) (*Client, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	env, err := wire.Bind(ctx, nc, cfg.wireConfig())
	if err != nil {
		return nil, notDeployed(err)
	}
	return &Client{cfg: cfg, env: env, tracer: tracing.Tracer(cfg.tracerProvider)}, nil
}

// deployed says whether the bucket behind a failed read or write is gone,
// as a *NotDeployedError; otherwise it returns err as it is.
func (c *Client) deployed(ctx context.Context, bucket string, err error) error {
	if nd := c.env.CheckDeployed(ctx, bucket); nd != nil {
		return notDeployed(nd)
	}
	return err
}

// Run is a handle on one run of a workflow with output type O.
type Run[O any] struct {
	c        *Client
	id       string
	workflow string
}

// ID is the run's workflow ID.
func (r *Run[O]) ID() string { return r.id }

// Start starts a run of def with the given ID and input. It is idempotent on
// the ID: starting an ID that has a run of the same workflow with the same
// input returns that run and starts nothing, so a caller may retry a Start
// whose answer it lost. An ID that has a run of another workflow, or one
// started with another input, gives an *AlreadyStartedError (errors.Is
// ErrAlreadyStarted) describing that run, unless the run is closed and the
// option WithIDReusePolicy lets a new run take its ID (see IDReusePolicy).
// Invalid IDs give an *InvalidIDError and an input too large for the server
// a *PayloadTooLargeError.
func Start[I, O any](ctx context.Context, c *Client, def *Definition[I, O], id string, in I, opts ...StartOption) (*Run[O], error) {
	data, err := kv.MarshalPayload(in)
	if err != nil {
		return nil, fmt.Errorf("jetflow: encoding the input of %s: %w", def.Name(), err)
	}
	// An input recorded by an older jetflow (fields by Go names) is the
	// same input when it decodes into I and encodes back as data.
	canon := func(old []byte) ([]byte, error) {
		var v I
		if err := kv.UnmarshalPayload(old, &v); err != nil {
			return nil, err
		}
		return kv.MarshalPayload(v)
	}
	if err := c.start(ctx, def.Name(), id, data, canon, opts); err != nil {
		return nil, err
	}
	return &Run[O]{c: c, id: id, workflow: def.Name()}, nil
}

// Attach returns a handle on an existing run of def.
func Attach[I, O any](c *Client, def *Definition[I, O], id string) *Run[O] {
	return &Run[O]{c: c, id: id, workflow: def.Name()}
}

// StartRaw starts a run of the named workflow with an input already
// encoded as msgpack, in the wire format of payloads (see the README's
// "Payloads"); Start is the typed form, and says what happens when the ID
// has a run already. Inputs are compared as decoded values.
func (c *Client) StartRaw(ctx context.Context, workflow, id string, input []byte, opts ...StartOption) error {
	return c.start(ctx, workflow, id, input, nil, opts)
}

// maxStartTries bounds the rounds of a Start that keeps finding the ID's
// record changed under it (other Starts of the same ID racing).
const maxStartTries = 5

// start is Start and StartRaw: canon, when set, re-encodes an input
// recorded by an older jetflow for the comparison with input.
func (c *Client) start(ctx context.Context, workflow, id string, input []byte, canon func([]byte) ([]byte, error), opts []StartOption) (err error) {
	sc, err := buildStartConfig(opts)
	if err != nil {
		return err
	}
	if err := ValidateID(id); err != nil {
		return err
	}
	if !steps.ValidName(workflow) {
		return fmt.Errorf("%w: %q", ErrInvalidName, workflow)
	}
	ctx, span := c.startSpan(ctx, workflow, id)
	defer func() { endSpan(span, err) }()
	run := kv.Run{ID: id, Workflow: workflow, Status: kv.StatusPending, Input: input, CreatedAt: time.Now().UTC(), Format: kv.FormatHistory, Exec: 1,
		Inc: kv.NewIncarnation(), Schedule: sc.schedule}
	run.TraceParent, run.TraceState = tracing.Record(span.SpanContext())
	rec, err := kv.Marshal(run)
	if err != nil {
		return err
	}
	// The record must fit a message, and so must the first step tasks that
	// carry parts of it; keep headroom for headers and the task envelope.
	if max := c.env.MaxPayload - 1024; max > 0 && int64(len(rec)) > max {
		return &PayloadTooLargeError{What: "input of " + workflow + " run " + id, Size: len(input), Max: c.env.MaxPayload}
	}
	runs, _, _ := kv.BucketNames(c.env.Names.Prefix)
	inc := run.Inc
	_, err = kv.Create(ctx, c.env.Buckets.Runs, id, run)
	for try := 1; errors.Is(err, kv.ErrExists) || errors.Is(err, kv.ErrConflict); try++ {
		if try > maxStartTries {
			return fmt.Errorf("jetflow: starting %s: its record kept changing: %w", id, err)
		}
		existing, rev, gerr := kv.Get[kv.Run](ctx, c.env.Buckets.Runs, id)
		if errors.Is(gerr, kv.ErrNotFound) {
			// Purged meanwhile: the ID is free again.
			_, err = kv.Create(ctx, c.env.Buckets.Runs, id, run)
			continue
		}
		if gerr != nil {
			return gerr
		}
		if kv.Terminal(existing.Status) && sc.reuse.reuses(existing.Status) {
			// A new run takes the closed run's ID: its record replaces
			// the closed one's, unless another writer got there first.
			// It counts the reuse, which its idempotency keys carry, so
			// that a service deduplicating on them does not take its
			// steps for the old run's.
			run.Reuse = existing.Reuse + 1
			_, err = kv.Update(ctx, c.env.Buckets.Runs, id, run, rev)
			continue
		}
		differs := !sameInput(existing.Input, input, canon)
		if existing.Workflow != workflow || differs {
			return &AlreadyStartedError{WorkflowID: id, Workflow: existing.Workflow, Status: existing.Status, InputDiffers: differs}
		}
		if existing.Status != kv.StatusPending {
			return nil // this very run, started already
		}
		// Created but maybe never announced (a crash between the two
		// writes): publish the start task again.
		inc, err = existing.Inc, nil
	}
	if err != nil {
		return c.env.Explain(ctx, c.deployed(ctx, runs, err), "KV_"+c.env.Buckets.Runs.Bucket())
	}
	// The start hint goes on the workflow type's start subject, not on its
	// workflow tasks' (only workers publish those): a worker reads from it
	// only which pending run to start. No deduplication ID: a second hint (a
	// Start retried after a crash) finds the run started and decides
	// nothing new. It names the run's incarnation, so that a worker still
	// holding a closed run of the same ID lets it go.
	hint, err := kv.Marshal(wire.WorkflowTask{WorkflowID: id, Workflow: workflow, Reason: wire.ReasonStart, Inc: inc})
	if err != nil {
		return err
	}
	if err := c.env.Publish(ctx, c.env.Names.StartSubject(workflow), "", hint); err != nil {
		return c.env.Explain(ctx, err, c.env.Names.TaskStream())
	}
	if !c.env.Served(ctx, c.env.Names.WorkflowConsumer(workflow)) {
		c.noWorker(ctx, workflow, id)
	}
	return nil
}

// sameInput reports whether a run's recorded input is in: the same bytes or
// the same decoded value, or (canon) the same once re-encoded from an older
// jetflow's format.
func sameInput(recorded, in []byte, canon func([]byte) ([]byte, error)) bool {
	if kv.SamePayload(recorded, in) {
		return true
	}
	if canon == nil {
		return false
	}
	c, err := canon(recorded)
	return err == nil && kv.SamePayload(c, in)
}

// noWorker records and reports that no worker has ever served the run's
// workflow type. The run is kept: it starts when such a worker appears.
func (c *Client) noWorker(ctx context.Context, workflow, id string) {
	why := "no worker has registered workflow " + workflow + "; the run starts when one does"
	if run, rev, err := kv.Get[kv.Run](ctx, c.env.Buckets.Runs, id); err == nil && run.Status == kv.StatusPending {
		run.Waiting = why
		_, _ = kv.Update(ctx, c.env.Buckets.Runs, id, run, rev)
	}
	c.env.Emit(wire.Event{Event: wire.EventNoWorker, Workflow: workflow, WorkflowID: id, Status: kv.StatusPending, Error: why})
}

// Description is a run's state, as Describe returns it.
type Description struct {
	ID          string
	Workflow    string
	Status      Status
	CreatedAt   time.Time
	StartedAt   time.Time
	ClosedAt    time.Time
	UpdatedAt   time.Time
	CurrentStep string
	// Exec is the execution the record describes: 1, plus one for each
	// continue-as-new.
	Exec int
	// Positions counts the decisions the execution made (steps, timers,
	// side effects) as of its last workflow task.
	Positions int
	Error     *Failure
	// Waiting says why the run cannot move, when jetflow knows (no worker
	// serves its workflow type or its current step).
	Waiting string
	// Backoff is set while a step of the run waits to be tried again.
	Backoff *Backoff
	// Parent is the ID of the run that started this one as a child
	// workflow; empty for a run started from outside.
	Parent string
	// TraceID is the OpenTelemetry trace the run's spans belong to (hex),
	// from the span context of its Start; empty when it had none.
	TraceID string
}

// Backoff is a step between two attempts: how many it had, why the last
// one failed, and when the next one is due.
type Backoff struct {
	Step          string
	Seq           int
	Attempts      int
	LastError     string
	LastErrorType string
	NextAttemptAt time.Time
}

// Describe returns a run's status, times and the step it waits on. A missing
// run gives ErrNotFound.
func (c *Client) Describe(ctx context.Context, id string) (Description, error) {
	run, err := c.load(ctx, id)
	if err != nil {
		return Description{}, err
	}
	d := Description{ID: run.ID, Workflow: run.Workflow, Status: Status(run.Status), CreatedAt: run.CreatedAt, StartedAt: run.StartedAt,
		ClosedAt: run.ClosedAt, UpdatedAt: run.UpdatedAt, Exec: max(run.Exec, 1), Error: failureOf(run.Error), Waiting: run.Waiting,
		Parent: parentOf(&run), TraceID: tracing.TraceID(run.TraceParent)}
	// The record changes only when the run starts and ends; where it
	// stands in between is in its last history batch.
	if b, ok, _ := lastBatch(ctx, c.env, kv.ExecKey(id, run.Inc, run.Exec)); ok {
		d.Positions, d.UpdatedAt = b.Seq, b.At
		if !kv.Terminal(run.Status) {
			d.CurrentStep = b.WaitingOn
		}
	}
	if !kv.Terminal(run.Status) {
		d.Backoff = c.backoff(ctx, kv.ExecKey(id, run.Inc, run.Exec))
	}
	return d, nil
}

// backoff reads the latest retry record of an execution; it is the step's
// current state when that step has no result yet.
func (c *Client) backoff(ctx context.Context, ek string) *Backoff {
	st, err := c.env.StepsStream(ctx)
	if err != nil {
		return nil
	}
	bucket := c.env.Buckets.Steps.Bucket()
	m, err := st.GetLastMsgForSubject(ctx, "$KV."+bucket+"."+ek+".r.>")
	if err != nil {
		return nil
	}
	var r kv.Retry
	if kv.Unmarshal(m.Data, &r) != nil || r.Error == nil {
		return nil
	}
	if _, _, err := kv.Get[kv.Result](ctx, c.env.Buckets.Steps, kv.StepKey(ek, r.Error.Seq)); !errors.Is(err, kv.ErrNotFound) {
		return nil // done since (or unreadable)
	}
	return &Backoff{Step: r.Error.Step, Seq: r.Error.Seq, Attempts: r.Attempt - 1, LastError: r.Error.Message, LastErrorType: r.Error.Type, NextAttemptAt: r.NotBefore}
}

// lastBatch reads the newest history batch of an execution.
// lastBatch is the newest history batch of an execution; found is false
// when it has none.
func lastBatch(ctx context.Context, env *wire.Env, ek string) (b kv.Batch, found bool, err error) {
	st, err := env.StepsStream(ctx)
	if err != nil {
		return b, false, err
	}
	m, err := st.GetLastMsgForSubject(ctx, "$KV."+env.Buckets.Steps.Bucket()+"."+ek+".h.*")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return b, false, nil
	}
	if err != nil {
		return b, false, err
	}
	if err := kv.Unmarshal(m.Data, &b); err != nil {
		return b, false, err
	}
	return b, true, nil
}

// Record returns the run's record: its input and, once it ended, its output
// or failure.
func (c *Client) Record(ctx context.Context, id string) (Record, error) {
	run, err := c.load(ctx, id)
	return recordOf(run), err
}

func (c *Client) load(ctx context.Context, id string) (kv.Run, error) {
	if err := ValidateID(id); err != nil {
		return kv.Run{}, err
	}
	run, _, err := kv.Get[kv.Run](ctx, c.env.Buckets.Runs, id)
	if err != nil && !errors.Is(err, kv.ErrCorrupt) {
		// A bucket deleted since NewClient answers like a missing key, or
		// not at all: say which it is.
		runs, _, _ := kv.BucketNames(c.env.Names.Prefix)
		if nd := c.deployed(ctx, runs, nil); nd != nil {
			return run, nd
		}
	}
	if errors.Is(err, kv.ErrNotFound) {
		return run, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return run, err
}

// Wait blocks until the run is terminal (or ctx ends) and returns its record.
// It re-reads the record when the run publishes its closing event, and
// every two seconds in case an event was lost.
func (c *Client) Wait(ctx context.Context, id string) (Record, error) {
	run, err := c.wait(ctx, id)
	return recordOf(run), err
}

func (c *Client) wait(ctx context.Context, id string) (kv.Run, error) {
	if err := ValidateID(id); err != nil {
		return kv.Run{}, err
	}
	// Listen first, then read: a run that ends between the two is caught
	// by the read, one that ends after it by the event.
	ch, stop, err := c.watchClose(id)
	if err != nil {
		return kv.Run{}, fmt.Errorf("jetflow: watching %s: %w", id, err)
	}
	defer stop()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var run kv.Run
	var lastErr error
	for {
		switch run, err = c.poll(ctx, id); {
		case err == nil && kv.Terminal(run.Status):
			return run, nil
		case waitEnds(err):
			return run, err
		case err != nil:
			// A server failing over: the run goes on, so does the wait.
			lastErr = err
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			if lastErr != nil {
				return run, fmt.Errorf("%w (last read error: %v)", ctx.Err(), lastErr)
			}
			return run, ctx.Err()
		}
	}
}

// waitEnds says whether a read error ends a wait: the run is not there,
// cannot be, or cannot be read. Any other error may pass (a server failing
// over), so the wait goes on.
func waitEnds(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidID) || errors.Is(err, kv.ErrCorrupt) || errors.Is(err, ErrNotDeployed)
}

// readTimeout bounds one read of a run record inside a long wait: a request
// lost with a server that died is answered by nobody, and the wait must not
// hang on it until the caller's deadline.
const readTimeout = 5 * time.Second

func (c *Client) poll(ctx context.Context, id string) (kv.Run, error) {
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return c.load(rctx, id)
}

// Result waits for the run to end and returns its output. A run that ended
// other than completed gives a *RunError, an output that does not decode
// into O a *PayloadDecodeError.
func (r *Run[O]) Result(ctx context.Context) (O, error) {
	var out O
	run, err := r.c.wait(ctx, r.id)
	if err != nil {
		return out, err
	}
	if run.Status != kv.StatusCompleted {
		// A compensation_failed run may still carry the workflow's output.
		if len(run.Output) > 0 {
			_ = kv.UnmarshalPayload(run.Output, &out)
		}
		return out, runError(run)
	}
	if err := decodePayload("the output of run "+r.id, run.Output, &out); err != nil {
		return out, err
	}
	return out, nil
}

// Describe returns the run's state.
func (r *Run[O]) Describe(ctx context.Context) (Description, error) { return r.c.Describe(ctx, r.id) }

func runError(run kv.Run) error {
	re := &RunError{WorkflowID: run.ID, Status: run.Status}
	if run.Error == nil {
		re.Cause = errors.New(run.Status)
		return re
	}
	switch run.Error.Type {
	case "Canceled":
		if run.Status == kv.StatusCanceled {
			re.Cause = canceledFrom(run.Error.Message)
			return re
		}
	case "NonDeterminism":
		nd := &NonDeterminismError{}
		if kv.Unmarshal(run.Error.Details, nd) == nil {
			re.Cause = nd
			return re
		}
	case "CompensationFailed":
		ce := &CompensationError{}
		if kv.Unmarshal(run.Error.Details, ce) == nil {
			re.Cause = ce
			return re
		}
	}
	re.Cause = &steps.Error{Type: run.Error.Type, Message: run.Error.Message, NonRetryable: run.Error.NonRetryable, Details: run.Error.Details}
	return re
}

// canceledFrom is the *CanceledError a canceled run recorded as msg.
func canceledFrom(msg string) *CanceledError {
	reason, _ := strings.CutPrefix(msg, (&CanceledError{}).Error())
	return &CanceledError{Reason: strings.TrimPrefix(reason, ": ")}
}
