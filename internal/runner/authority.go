package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrForgedTask is the reason a step task is parked when it is impossible or
// disagrees with the run's history: a message is a hint to go and look, and
// what a step runs under (its input, timeouts, retry policy, breaker,
// attempt and due time) comes from what the workflow recorded.
var ErrForgedTask = errors.New("steps: task disagrees with the run's history")

// Policy is what the workflow code chose for one step, recorded with the
// decision that scheduled it (kv.Decision.Policy).
type Policy struct {
	StartToClose    time.Duration        `msgpack:"stc"`
	ScheduleToClose time.Duration        `msgpack:"sch,omitempty"`
	Retry           steps.RetryPolicy    `msgpack:"rp"`
	Breaker         *steps.BreakerPolicy `msgpack:"br,omitempty"`
}

// EncodePolicy is the recorded form of t's options.
func EncodePolicy(t *Task) ([]byte, error) {
	return kv.Marshal(Policy{StartToClose: t.StartToClose, ScheduleToClose: t.ScheduleToClose, Retry: t.Retry, Breaker: t.Breaker})
}

// Digest identifies a step's input in its recorded decision.
func Digest(input []byte) []byte {
	h := sha256.Sum256(input)
	return h[:16]
}

// authorize replaces everything in t that a forger could choose with what
// the run recorded, and checks the rest against it. It reports whether t may
// run; when it may not, the message has been dealt with (parked, put back
// until its time, or left for redelivery after a read failed).
func (r *Runner) authorize(ctx context.Context, h steps.Handler, m jetstream.Msg, t *Task) bool {
	if reason := impossible(h, t); reason != "" {
		r.park(ctx, m, h, fmt.Errorf("%w: %s", ErrForgedTask, reason))
		return false
	}
	if known := r.issued(t); known != nil {
		// This process published the task: its copy is the decision.
		t.StartToClose, t.ScheduleToClose, t.Retry, t.Breaker = known.StartToClose, known.ScheduleToClose, known.Retry, known.Breaker
		t.ScheduledAt, t.Compensation = known.ScheduledAt, known.Compensation
		if !bytes.Equal(t.Input, known.Input) {
			r.park(ctx, m, h, fmt.Errorf("%w: input of %s differs from the one scheduled", ErrForgedTask, t.ResultKey()))
			return false
		}
	} else {
		d, err := r.decision(ctx, t)
		if err != nil {
			r.refuse(ctx, m, h, t, err)
			return false
		}
		if err := t.follow(d); err != nil {
			r.park(ctx, m, h, err)
			return false
		}
	}
	t.NotBefore = time.Time{}
	if t.Republished {
		// Published again by a worker that rebuilt the run: the step may
		// be retrying already. Go on from its latest scheduled attempt.
		latest, err := r.latestRetry(ctx, t)
		if err != nil {
			r.refuse(ctx, m, h, t, err)
			return false
		}
		t.Attempt = max(t.Attempt, latest)
	}
	if t.Attempt > 1 {
		if t.Retry.MaxAttempts > 0 && t.Attempt > t.Retry.MaxAttempts {
			r.park(ctx, m, h, fmt.Errorf("%w: attempt %d of %s, and its policy allows %d", ErrForgedTask, t.Attempt, t.ResultKey(), t.Retry.MaxAttempts))
			return false
		}
		rec, err := wire.GetConfirmed[kv.Retry](ctx, r.env, r.env.Buckets.Steps, kv.RetryKey(t.ExecKey(), t.Seq, t.Attempt))
		if err != nil {
			r.refuse(ctx, m, h, t, err)
			return false
		}
		t.NotBefore = rec.NotBefore
	}
	return r.due(ctx, m, t)
}

// latestRetry is the last attempt of t's step that a retry record
// scheduled (0 when none did).
func (r *Runner) latestRetry(ctx context.Context, t *Task) (int, error) {
	st, err := r.env.StepsStream(ctx)
	if err != nil {
		return 0, err
	}
	m, err := st.GetLastMsgForSubject(ctx, "$KV."+r.env.Buckets.Steps.Bucket()+"."+t.ExecKey()+".r."+strconv.Itoa(t.Seq)+".*")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the retries of %s: %w", t.ResultKey(), err)
	}
	var rec kv.Retry
	if err := kv.Unmarshal(m.Data, &rec); err != nil {
		return 0, fmt.Errorf("retry record %s: %w", m.Subject, err)
	}
	return rec.Attempt, nil
}

// impossible says what makes a task impossible on its face ("" if nothing).
func impossible(h steps.Handler, t *Task) string {
	switch {
	case t.Step != h.Name():
		return fmt.Sprintf("a task of step %q on the subject of step %s", t.Step, h.Name())
	case kv.IDProblem(t.WorkflowID) != "":
		return fmt.Sprintf("workflow ID %q", t.WorkflowID)
	case !steps.ValidName(t.Workflow):
		return fmt.Sprintf("workflow type %q", t.Workflow)
	case t.Inc != "" && kv.IDProblem(t.Inc) != "":
		return fmt.Sprintf("incarnation %q", t.Inc)
	case t.Seq <= 0 || t.Attempt <= 0 || t.Exec < 0 || t.Batch < 0:
		return fmt.Sprintf("position %d, attempt %d, execution %d, batch %d", t.Seq, t.Attempt, t.Exec, t.Batch)
	}
	return ""
}

// issued is the task as this process published it, if it did.
func (r *Runner) issued(t *Task) *Task {
	if r.Hooks.Issued == nil {
		return nil
	}
	return r.Hooks.Issued(t.ResultKey())
}

// decision reads the decision that scheduled t from the history batch the
// task names (a batch is written once, so it is cached), or, for a task of
// an earlier jetflow that names none, from the whole history.
func (r *Runner) decision(ctx context.Context, t *Task) (*kv.Decision, error) {
	if t.Batch == 0 {
		return r.scanHistory(ctx, t)
	}
	key := kv.HistoryKey(t.ExecKey(), t.Batch)
	b, ok := r.batches.Get(key)
	if !ok {
		got, err := wire.GetConfirmed[kv.Batch](ctx, r.env, r.env.Buckets.Steps, key)
		if errors.Is(err, kv.ErrNotFound) {
			return nil, fmt.Errorf("%w: no history batch %s", ErrForgedTask, key)
		}
		if err != nil {
			return nil, err
		}
		b = &got
		r.batches.Put(key, b)
	}
	for i := range b.Decisions {
		if b.Decisions[i].Seq == t.Seq {
			return &b.Decisions[i], nil
		}
	}
	return nil, fmt.Errorf("%w: history batch %s has no decision at position %d", ErrForgedTask, key, t.Seq)
}

// scanHistory finds t's decision in every batch of its execution.
func (r *Runner) scanHistory(ctx context.Context, t *Task) (*kv.Decision, error) {
	for n := 1; ; n++ {
		key := kv.HistoryKey(t.ExecKey(), n)
		b, err := wire.GetConfirmed[kv.Batch](ctx, r.env, r.env.Buckets.Steps, key)
		if errors.Is(err, kv.ErrNotFound) {
			return nil, fmt.Errorf("%w: the history of %s has no decision at position %d", ErrForgedTask, t.ExecKey(), t.Seq)
		}
		if err != nil {
			return nil, err
		}
		for i := range b.Decisions {
			if b.Decisions[i].Seq == t.Seq {
				return &b.Decisions[i], nil
			}
		}
	}
}

// follow takes t's options from its recorded decision d.
func (t *Task) follow(d *kv.Decision) error {
	if d.Kind != kv.KindStep || d.Name != t.Step || d.Refused != nil {
		return fmt.Errorf("%w: position %d of %s is %s %s, not step %s", ErrForgedTask, t.Seq, t.ExecKey(), d.Kind, d.Name, t.Step)
	}
	t.ScheduledAt, t.Compensation = d.At, d.Compensation
	if d.Policy == nil {
		// Recorded by a jetflow before policies were: the task's own
		// options are all there is.
		return nil
	}
	var p Policy
	if err := kv.Unmarshal(d.Policy, &p); err != nil {
		return fmt.Errorf("policy of %s: %w", t.ResultKey(), err)
	}
	if !bytes.Equal(Digest(t.Input), d.Digest) {
		return fmt.Errorf("%w: input of %s differs from the one recorded", ErrForgedTask, t.ResultKey())
	}
	t.StartToClose, t.ScheduleToClose, t.Retry, t.Breaker = p.StartToClose, p.ScheduleToClose, p.Retry, p.Breaker
	return nil
}

// refuse deals with a task whose decision or retry record could not be
// confirmed: parked when the leader says it is not there, else put back.
func (r *Runner) refuse(ctx context.Context, m jetstream.Msg, h steps.Handler, t *Task, err error) {
	if errors.Is(err, ErrForgedTask) || errors.Is(err, kv.ErrNotFound) || errors.Is(err, kv.ErrCorrupt) {
		r.park(ctx, m, h, fmt.Errorf("%w (%v)", ErrForgedTask, err))
		return
	}
	r.log.Warn("jetflow: checking a step task against its run", "workflow_id", t.WorkflowID, "step", t.Step, "err", err)
	_ = m.NakWithDelay(time.Second)
}

func (r *Runner) park(ctx context.Context, m jetstream.Msg, h steps.Handler, reason error) {
	wire.Park(ctx, r.env, m, "step", h.Name(), reason, r.log)
}

// due reports whether t is due now. A task that comes early by more than a
// moment goes back into a server-side schedule until its time, so that no
// number of delayed tasks can hold the consumer's window of pending
// messages and stop ready ones.
func (r *Runner) due(ctx context.Context, m jetstream.Msg, t *Task) bool {
	wait := time.Until(t.NotBefore)
	switch {
	case wait <= 10*time.Millisecond:
		return true
	case wait <= time.Second:
		_ = m.NakWithDelay(wait)
	default:
		data, err := kv.Marshal(t)
		if err == nil {
			n := r.env.Names
			err = r.env.PublishAtHeader(ctx, n.ScheduleSubject(t.ExecKey(), t.Seq, t.Attempt), n.StepSubject(t.Step), "", traceHeader(m), data, t.NotBefore)
		}
		if err != nil {
			r.log.Warn("jetflow: putting an early step task back", "workflow_id", t.WorkflowID, "step", t.Step, "err", err)
			_ = m.NakWithDelay(time.Second)
			return false
		}
		_ = m.Ack()
	}
	return false
}
