package steps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/nats-io/nats.go/jetstream"
)

// The shared circuit breaker.
//
// State lives in the breakers bucket (key = BreakerPolicy.Name, value
// kv.Breaker) and changes only by revision-checked writes: every decision
// reads the record, computes the next one and writes it with kv.Create or
// kv.Update against the revision it read; a writer that lost the race reads
// again and decides again. So the whole cluster moves one breaker, and every
// transition has exactly one author, who publishes it as JSON on
// <prefix>.breaker.<name>.<new state> (a BreakerEvent).
//
//	closed ──FailureThreshold consecutive failures──▶ open
//	open ──first attempt after OpenUntil, takes a probe slot──▶ half_open
//	half_open ──SuccessThreshold successful probes──▶ closed
//	half_open ──a failed probe──▶ open (for another ResetTimeout)
//
// Probes: while half-open, an attempt runs only if it adds itself to
// kv.Breaker.Probes in a revision-checked write that leaves at most
// HalfOpenMaxCalls live probes. Two workers that read the same revision
// cannot both win the write, and the loser re-reads the slots as taken, so no
// more than HalfOpenMaxCalls probes run at once cluster-wide. A probe holds
// its slot until it reports or until its lease (start + StartToClose +
// probeLeaseGrace) runs out, after which the slot is free again: a probe
// whose worker died does not wedge the breaker, and its late report (a
// zombie) no longer finds its slot and is ignored.
//
// What counts: a handler error the retry policy would retry (including
// panics and StartToCloseTimeout) is a failure. A success is a success, and
// so is an error the policy does not retry (NonRetryable, or a type in
// NonRetryableErrorTypes): the service answered, with a business outcome such
// as a declined card, and must not be cut off for it. BadInput and
// NotImplemented say nothing about the service and count as neither; nor does
// an attempt abandoned because the worker shut down.
//
// Cost: a step without a Breaker never touches the bucket. With one, an
// attempt through a closed breaker reads the record once and writes nothing
// to it on success unless failures were pending; it also creates one claim
// key in the steps bucket (see admitBreaker). A worker that saw the breaker open
// refuses attempts from memory until the reset deadline, re-reading at most
// every openCacheRecheck so that a manual reset reaches it quickly.
//
// A record that does not decode is treated as a closed breaker with no
// failures, logged, reported with a BreakerEvent from "corrupt" to "closed",
// and overwritten by a revision-checked write of a fresh record.
//
// All workers should use the same policy for a breaker name: each attempt
// decides with the policy its task carries, and the record keeps the policy
// of its last writer for operators. The deadlines in the record come from the
// clock of the worker that wrote them, so worker clocks should agree to well
// within ResetTimeout.

// Defaults applied where BreakerPolicy leaves a field at zero.
const (
	DefaultFailureThreshold = 5
	DefaultResetTimeout     = 60 * time.Second
	DefaultHalfOpenMaxCalls = 1
	DefaultSuccessThreshold = 1
)

// TypeInvalidBreaker is the error type of a step whose BreakerPolicy has no
// valid name; the step fails at once, non-retryable.
const TypeInvalidBreaker = "InvalidBreaker"

const (
	// probeLeaseGrace is added to StartToClose to give a probe's report the
	// time to reach the bucket before its slot may be reclaimed.
	probeLeaseGrace = 10 * time.Second
	// openCacheRecheck bounds how long a worker refuses from memory before
	// it reads the record again.
	openCacheRecheck = time.Second
	// maxBreakerWrites bounds the read-decide-write rounds of one decision.
	maxBreakerWrites = 100
	// reportTimeout bounds recording an attempt's outcome, which runs even
	// when the worker is shutting down.
	reportTimeout = 5 * time.Second
)

// withDefaults returns the policy with zero fields replaced by defaults.
func (p BreakerPolicy) withDefaults() BreakerPolicy {
	if p.FailureThreshold <= 0 {
		p.FailureThreshold = DefaultFailureThreshold
	}
	if p.ResetTimeout <= 0 {
		p.ResetTimeout = DefaultResetTimeout
	}
	if p.HalfOpenMaxCalls <= 0 {
		p.HalfOpenMaxCalls = DefaultHalfOpenMaxCalls
	}
	if p.SuccessThreshold <= 0 {
		p.SuccessThreshold = DefaultSuccessThreshold
	}
	return p
}

// BreakerEvent is one transition of a breaker, published as JSON on
// <prefix>.breaker.<name>.<to> and kept by the event stream.
type BreakerEvent struct {
	Name string `json:"name"`
	// From is the state before, or "corrupt" for a record that did not decode.
	From      string    `json:"from"`
	To        string    `json:"to"`
	Failures  int       `json:"failures"`
	Successes int       `json:"successes,omitempty"`
	Time      time.Time `json:"time"`
	Worker    string    `json:"worker,omitempty"`
	OpenUntil time.Time `json:"open_until,omitzero"`
	// Reason says why: failure_threshold, reset_timeout, probe_failed,
	// probes_succeeded, corrupt_record or reset.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// breakerOutcome is what an attempt tells its breaker.
type breakerOutcome int

const (
	outcomeNeutral breakerOutcome = iota
	outcomeSuccess
	outcomeFailure
)

// breakerPermit lets one attempt run; report returns it.
type breakerPermit struct {
	policy BreakerPolicy
	// probe is the slot's ID when the attempt is a half-open probe.
	probe string
	// clean is set when the breaker was closed with no failures: a success
	// then has nothing to write.
	clean bool
}

type openEntry struct {
	until   time.Time // the record's OpenUntil
	recheck time.Time // read the record again from then on
}

// breakers is one worker's access to the shared breakers. Safe for
// concurrent use.
type breakers struct {
	env    *wire.Env
	bucket jetstream.KeyValue
	worker string
	log    *slog.Logger
	now    func() time.Time

	mu   sync.Mutex
	open map[string]openEntry
}

func newBreakers(env *wire.Env, worker string, log *slog.Logger) *breakers {
	if log == nil {
		log = slog.Default()
	}
	b := &breakers{env: env, worker: worker, log: log, now: time.Now, open: map[string]openEntry{}}
	if env != nil && env.Buckets != nil {
		b.bucket = env.Buckets.Breakers
	}
	return b
}

// admitBreaker asks the step's breaker whether attempt t may run. When it
// may not, the attempt is dealt with here — refused and recorded as the
// step's final result, or put back when the bucket cannot be read — and ok
// is false.
//
// The breaker's answer binds only the first delivery of the attempt: the
// decision is claimed with a create-only key (kv.ClaimKey) before anything
// else happens, and a delivery that finds a claim follows it. Without that, a
// delivery refused by a breaker that opened meanwhile could record a refusal
// while another delivery of the same attempt (a zombie woken up, or a copy
// redelivered after a server restart with its delivery count lost) calls the
// service: the step would fail for an effect that happened anyway, and the
// workflow would take its fallback too (a second charge; found by the chaos
// harness). A delivery that follows another's claim gives its permit back:
// the breaker counts the first delivery's outcome only.
func (r *Runner) admitBreaker(ctx context.Context, m jetstream.Msg, t *Task, now time.Time) (permit *breakerPermit, ok bool) {
	permit, refused, err := r.breakers.admit(ctx, *t.Breaker, t.StartToClose+probeLeaseGrace)
	if err != nil {
		r.log.Warn("jetflow: reading circuit breaker", "breaker", t.Breaker.Name, "workflow_id", t.WorkflowID, "step", t.Step, "err", err)
		_ = m.NakWithDelay(time.Second)
		return nil, false
	}
	claim := kv.Claim{Run: refused == nil, Worker: r.worker, At: now}
	if refused != nil {
		claim.Refusal = &kv.ErrorInfo{Type: refused.Type, Message: refused.Message, NonRetryable: true}
	}
	key := kv.ClaimKey(t.ExecKey(), t.Seq, t.Attempt)
	_, err = kv.Create(ctx, r.env.Buckets.Steps, key, claim)
	if errors.Is(err, kv.ErrExists) {
		var first kv.Claim
		if first, _, err = kv.Get[kv.Claim](ctx, r.env.Buckets.Steps, key); err == nil {
			refused = nil
			if !first.Run {
				refused = &Error{Type: TypeBreakerOpen, Message: "circuit breaker refused this attempt", NonRetryable: true}
				if first.Refusal != nil {
					refused.Type, refused.Message = first.Refusal.Type, first.Refusal.Message
				}
			}
			// Another delivery decided first; its outcome is the one the
			// breaker counts.
			r.releasePermit(ctx, permit, t)
			permit = nil
		}
	}
	if err != nil {
		r.log.Warn("jetflow: claiming a breaker-guarded attempt", "breaker", t.Breaker.Name, "workflow_id", t.WorkflowID, "step", t.Step, "attempt", t.Attempt, "err", err)
		r.releasePermit(ctx, permit, t)
		_ = m.NakWithDelay(time.Second)
		return nil, false
	}
	if refused != nil {
		// Non-retryable: the step ends now, and its retry budget is untouched,
		// so workflow code can take its fallback at once.
		r.finish(ctx, m, t, nil, refused, now)
		return nil, false
	}
	return permit, true
}

// releasePermit gives back a permit that will not be used (a probe's slot).
func (r *Runner) releasePermit(ctx context.Context, permit *breakerPermit, t *Task) {
	if permit != nil {
		r.reportBreaker(ctx, permit, t, nil, true)
	}
}

// reportBreaker records an attempt's outcome in its breaker. It runs even
// when ctx is canceled (a draining worker), so a probe gives back its slot.
func (r *Runner) reportBreaker(ctx context.Context, permit *breakerPermit, t *Task, err error, abandoned bool) {
	outcome := outcomeNeutral
	if !abandoned {
		outcome = classify(t, err)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
	defer cancel()
	if rerr := r.breakers.report(rctx, permit, outcome); rerr != nil {
		r.log.Warn("jetflow: recording circuit breaker outcome", "breaker", permit.policy.Name, "workflow_id", t.WorkflowID, "step", t.Step, "err", rerr)
	}
}

// classify says how an attempt's result counts for its breaker.
func classify(t *Task, err error) breakerOutcome {
	if err == nil {
		return outcomeSuccess
	}
	se := AsError(err)
	switch se.Type {
	case TypeBadInput, TypeNotImplemented:
		return outcomeNeutral
	}
	if !t.Retry.retryable(se) {
		return outcomeSuccess
	}
	return outcomeFailure
}

// admit decides whether an attempt guarded by p may run. It returns a permit
// to hand to report, or the non-retryable *Error to record instead of
// calling the handler, or an error when the bucket could not be used. lease
// bounds how long a probe may hold its slot without reporting.
func (b *breakers) admit(ctx context.Context, p BreakerPolicy, lease time.Duration) (*breakerPermit, *Error, error) {
	if !ValidName(p.Name) {
		return nil, &Error{Type: TypeInvalidBreaker, Message: fmt.Sprintf("circuit breaker name %q: 1 to 128 letters, digits, '-' or '_'", p.Name), NonRetryable: true}, nil
	}
	p = p.withDefaults()
	if until, ok := b.cachedOpen(p.Name); ok {
		return nil, openError(p.Name, until), nil
	}
	var (
		permit  *breakerPermit
		refused *Error
	)
	err := b.mutate(ctx, p.Name, func(rec *kv.Breaker, now time.Time, _ bool) (bool, *BreakerEvent) {
		permit, refused = nil, nil
		switch rec.State {
		case kv.BreakerOpen:
			if now.Before(rec.OpenUntil) {
				refused = openError(p.Name, rec.OpenUntil)
				b.cacheOpen(p.Name, rec.OpenUntil, now)
				return false, nil
			}
			permit = b.takeProbe(rec, p, now, lease)
			rec.State, rec.Successes = kv.BreakerHalfOpen, 0
			return true, b.event(rec, kv.BreakerOpen, "reset_timeout", now)
		case kv.BreakerHalfOpen:
			rec.Probes = rec.LiveProbes(now)
			if len(rec.Probes) >= p.HalfOpenMaxCalls {
				refused = &Error{Type: TypeBreakerOpen, NonRetryable: true,
					Message: fmt.Sprintf("circuit breaker %s is half-open and its %d probe slot(s) are taken", p.Name, p.HalfOpenMaxCalls)}
				return false, nil
			}
			permit = b.takeProbe(rec, p, now, lease)
			return true, nil
		default:
			permit = &breakerPermit{policy: p, clean: rec.Failures == 0}
			rec.Policy = kv.BreakerConfig(p) // written only to repair a corrupt record
			return false, nil
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return permit, refused, nil
}

func (b *breakers) takeProbe(rec *kv.Breaker, p BreakerPolicy, now time.Time, lease time.Duration) *breakerPermit {
	id := newProbeID()
	rec.Probes = append(rec.LiveProbes(now), kv.BreakerProbe{ID: id, Worker: b.worker, StartedAt: now, LeaseUntil: now.Add(lease)})
	rec.Policy = kv.BreakerConfig(p)
	return &breakerPermit{policy: p, probe: id}
}

// report records the outcome of an attempt that admit let run.
func (b *breakers) report(ctx context.Context, permit *breakerPermit, outcome breakerOutcome) error {
	p := permit.policy
	if permit.probe == "" {
		if outcome == outcomeNeutral || (outcome == outcomeSuccess && permit.clean) {
			return nil
		}
		return b.mutate(ctx, p.Name, func(rec *kv.Breaker, now time.Time, _ bool) (bool, *BreakerEvent) {
			if rec.State != kv.BreakerClosed {
				// Opened meanwhile: an attempt admitted before that no longer counts.
				return false, nil
			}
			if outcome == outcomeSuccess {
				if rec.Failures == 0 {
					return false, nil
				}
				rec.Failures = 0
				return true, nil
			}
			rec.Failures++
			rec.Policy = kv.BreakerConfig(p)
			if rec.Failures < p.FailureThreshold {
				return true, nil
			}
			b.trip(rec, p, now)
			return true, b.event(rec, kv.BreakerClosed, "failure_threshold", now)
		})
	}
	return b.mutate(ctx, p.Name, func(rec *kv.Breaker, now time.Time, _ bool) (bool, *BreakerEvent) {
		i := slices.IndexFunc(rec.Probes, func(pr kv.BreakerProbe) bool { return pr.ID == permit.probe })
		if rec.State != kv.BreakerHalfOpen || i < 0 {
			// The slot was reclaimed (lease ran out), another probe decided, or
			// the breaker was reset: this report is stale.
			return false, nil
		}
		rec.Probes = slices.Delete(rec.Probes, i, i+1)
		rec.Policy = kv.BreakerConfig(p)
		switch outcome {
		case outcomeSuccess:
			rec.Successes++
			if rec.Successes < p.SuccessThreshold {
				return true, nil
			}
			successes := rec.Successes
			closeBreaker(rec)
			ev := b.event(rec, kv.BreakerHalfOpen, "probes_succeeded", now)
			ev.Successes = successes
			return true, ev
		case outcomeFailure:
			rec.Failures++
			b.trip(rec, p, now)
			return true, b.event(rec, kv.BreakerHalfOpen, "probe_failed", now)
		}
		return true, nil
	})
}

// trip opens the breaker for one ResetTimeout.
func (b *breakers) trip(rec *kv.Breaker, p BreakerPolicy, now time.Time) {
	rec.State = kv.BreakerOpen
	rec.OpenedAt, rec.OpenUntil = now, now.Add(p.ResetTimeout)
	rec.Successes, rec.Probes = 0, nil
	rec.Opens++
}

// closeBreaker closes the breaker with no failures.
func closeBreaker(rec *kv.Breaker) {
	rec.State = kv.BreakerClosed
	rec.Failures, rec.Successes, rec.Probes = 0, 0, nil
	rec.OpenUntil = time.Time{}
}

// mutate runs one read-decide-write cycle on the named record until its
// write wins. decide gets the current record (a fresh closed one when the key
// is missing or corrupt; found says whether it was missing) and says whether
// to write it back and which transition to publish once written. A corrupt
// record is always written back, repaired.
func (b *breakers) mutate(ctx context.Context, name string, decide func(rec *kv.Breaker, now time.Time, found bool) (bool, *BreakerEvent)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	for round := 0; round < maxBreakerWrites; round++ {
		rec, rev, err := kv.Get[kv.Breaker](ctx, b.bucket, name)
		found, corrupt := true, false
		switch {
		case err == nil:
		case errors.Is(err, kv.ErrNotFound):
			found, rec, rev = false, kv.Breaker{}, 0
		case errors.Is(err, kv.ErrCorrupt):
			corrupt, rec = true, kv.Breaker{}
		default:
			return fmt.Errorf("reading breaker %s: %w", name, err)
		}
		if rec.State == "" || corrupt {
			rec.State = kv.BreakerClosed
		}
		rec.Name = name
		now := b.now()
		write, ev := decide(&rec, now, found)
		if !write && !corrupt {
			return nil
		}
		rec.UpdatedAt, rec.UpdatedBy = now, b.worker
		if rev == 0 {
			_, err = kv.Create(ctx, b.bucket, name, rec)
		} else {
			_, err = kv.Update(ctx, b.bucket, name, rec, rev)
		}
		if errors.Is(err, kv.ErrConflict) || errors.Is(err, kv.ErrExists) {
			// Another worker moved the breaker first: decide again on its state.
			if err := wire.Sleep(ctx, time.Duration(mrand.Int64N(int64(time.Millisecond)*int64(min(round+1, 20))))); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("writing breaker %s: %w", name, err)
		}
		if rec.State == kv.BreakerOpen {
			b.cacheOpen(name, rec.OpenUntil, now)
		} else {
			b.forget(name)
		}
		if corrupt {
			b.log.Warn("jetflow: circuit breaker record did not decode; treated as closed and overwritten", "breaker", name, "revision", rev)
			b.publish(BreakerEvent{Name: name, From: "corrupt", To: kv.BreakerClosed, Time: now.UTC(), Worker: b.worker,
				Reason: "corrupt_record", Error: fmt.Sprintf("revision %d did not decode", rev)})
		}
		if ev != nil {
			b.publish(*ev)
		}
		return nil
	}
	return fmt.Errorf("%w: breaker %s still contended after %d writes", kv.ErrConflict, name, maxBreakerWrites)
}

func (b *breakers) event(rec *kv.Breaker, from, reason string, now time.Time) *BreakerEvent {
	return &BreakerEvent{Name: rec.Name, From: from, To: rec.State, Failures: rec.Failures, Time: now.UTC(),
		Worker: b.worker, OpenUntil: rec.OpenUntil.UTC(), Reason: reason}
}

// publish reports a transition. Like status events it is a core publish
// captured by the event stream: it reports the state, it never is the state.
func (b *breakers) publish(ev BreakerEvent) {
	if b.env == nil || b.env.NC == nil {
		return
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	_ = b.env.NC.Publish(b.env.Names.BreakerSubject(ev.Name, ev.To), data)
}

func (b *breakers) cachedOpen(name string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.open[name]
	if !ok {
		return time.Time{}, false
	}
	if !b.now().Before(e.recheck) {
		delete(b.open, name)
		return time.Time{}, false
	}
	return e.until, true
}

func (b *breakers) cacheOpen(name string, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open[name] = openEntry{until: until, recheck: minTime(until, now.Add(openCacheRecheck))}
}

func (b *breakers) forget(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.open, name)
}

func openError(name string, until time.Time) *Error {
	return &Error{Type: TypeBreakerOpen, NonRetryable: true,
		Message: fmt.Sprintf("circuit breaker %s is open until %s", name, until.UTC().Format(time.RFC3339Nano))}
}

func newProbeID() string {
	var buf [8]byte
	_, _ = rand.Read(buf[:])
	return hex.EncodeToString(buf[:])
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ResetBreaker closes the named breaker and clears its failures and probes,
// for an operator who knows the service is back. by names who reset it in
// the event. If the breaker has no record, the error wraps kv.ErrNotFound.
// Workers that saw it open notice within a second.
func ResetBreaker(ctx context.Context, env *wire.Env, name, by string) error {
	b := newBreakers(env, by, nil)
	missing := false
	err := b.mutate(ctx, name, func(rec *kv.Breaker, now time.Time, found bool) (bool, *BreakerEvent) {
		missing = !found
		if !found {
			return false, nil
		}
		from := rec.State
		closeBreaker(rec)
		rec.Opens = 0
		return true, b.event(rec, from, "reset", now)
	})
	if err != nil {
		return err
	}
	if missing {
		return fmt.Errorf("%w: breaker %s", kv.ErrNotFound, name)
	}
	return nil
}
