package runner

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

	"github.com/jetflow-dev/jetflow/internal/tracing"
	"github.com/jetflow-dev/jetflow/internal/wire"
	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
	"github.com/nats-io/nats.go/jetstream"
)

// The shared circuit breaker.
//
// State lives in the breakers bucket (key = steps.BreakerPolicy.Name, value
// kv.Breaker) and changes only by revision-checked writes: every decision
// reads the record, computes the next one and writes it with kv.Create or
// kv.Update against the revision it read; a writer that lost the race reads
// again and decides again. So the whole cluster moves one breaker, and every
// transition has exactly one author, who publishes it as JSON on
// <prefix>.breaker.<name>.<new state> (a steps.BreakerEvent).
//
//	closed ──FailureThreshold consecutive failures, or the failure rate──▶ open
//	open ──first attempt after OpenUntil, takes a probe slot──▶ half_open
//	half_open ──SuccessThreshold successful probes──▶ closed
//	half_open ──a failed probe──▶ open (for another ResetTimeout)
//
// Generations: every state change (and a reset or a repair) increments
// kv.Breaker.Generation. An attempt is admitted in a generation, and its
// outcome counts only if the breaker is still in that generation when the
// outcome is written, as in gobreaker: an attempt admitted while closed that
// fails after the breaker opened and closed again would otherwise count
// against a service that has since been probed and found healthy.
//
// Consecutive failures are counted in the order outcomes reach the bucket,
// whichever worker reports them: a failure adds one, a success sets the
// count back to zero, and the breaker opens when the count reaches
// FailureThreshold. Attempts overlap, so the success that resets the count
// may be that of an attempt admitted before the failures were written; it
// must still reset it (outcomes F, F, S, F are not three in a row). So a
// success reads the record to see whether failures are pending, and writes
// only if they are.
//
// Failure rate (FailureRateThreshold > 0): the record keeps a window of
// counters, kv.Breaker.Window, one bucket per tenth of steps.BreakerPolicy.Window,
// aligned on absolute time so that every worker adds to the same buckets
// (breaker_window.go). Buckets that slid out of the window are dropped on the
// next write and the list is capped, so the record stays small. Every
// success and failure of the current generation is added by a
// revision-checked write, and after each one the breaker opens if the window
// holds at least MinimumCalls calls and failures are at least
// FailureRateThreshold of them. A positive FailureThreshold opens it on
// consecutive failures as well.
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
// so is an error the policy does not retry (steps.NonRetryable, or a type in
// NonRetryableErrorTypes): the service answered, with a business outcome such
// as a declined card, and must not be cut off for it. BadInput and
// NotImplemented say nothing about the service and count as neither; nor does
// an attempt abandoned because the worker shut down.
//
// Cost: a step without a Breaker never touches the bucket. With one, every
// attempt creates one claim key in the steps bucket (see admitBreaker) and
// reads the record once to be admitted. Under the consecutive rule, an
// attempt through a closed breaker then reads the record once more when it
// succeeds and writes nothing unless failures are pending; a failure is a
// read and a write. Under the failure-rate rule every success and failure is
// a read and a revision-checked write of the one record, so all the workers
// behind one breaker serialize on it (contended writes retry). Outcomes are
// not batched per worker: a worker that held its successes back would make
// the rate others read too high and open the breaker early, and one that
// held its failures back would open it late; batching both would make every
// decision as stale as the batch interval. A worker that saw the breaker
// open refuses attempts from memory until the reset deadline, re-reading at
// most every openCacheRecheck so that a manual reset reaches it quickly.
//
// Repairs: a record that does not decode, or whose state is none of closed,
// open and half_open, is treated as a closed breaker with no failures,
// logged, reported with a steps.BreakerEvent from "corrupt" to "closed" (reason
// corrupt_record or unknown_state), and overwritten by a revision-checked
// write of a fresh record in a new generation. A deadline no worker could
// have written would keep the channel shut until a manual reset, so it is
// treated as expired and rewritten, with an event: an OpenUntil more than
// ResetTimeout + maxClockSkew ahead (reason impossible_open_until: a probe
// goes through at once), or a probe lease more than the longer of its own
// and this attempt's StartToClose + probeLeaseGrace, plus maxClockSkew,
// ahead (reason impossible_lease: the slot is freed).
//
// All workers should use the same policy for a breaker name: each attempt
// decides with the policy its task carries, and the record keeps the policy
// of its last writer for operators. The deadlines in the record come from the
// clock of the worker that wrote them, so worker clocks should agree to well
// within ResetTimeout and maxClockSkew.

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
	// maxClockSkew is how far ahead of this worker's clock another worker's
	// may run before a deadline it wrote is taken for impossible.
	maxClockSkew = 10 * time.Second
)

// breakerOutcome is what an attempt tells its breaker.
type breakerOutcome int

const (
	outcomeNeutral breakerOutcome = iota
	outcomeSuccess
	outcomeFailure
)

// breakerPermit lets one attempt run; report returns it.
type breakerPermit struct {
	policy steps.BreakerPolicy
	// generation is the breaker's generation that admitted the attempt; its
	// outcome counts only if the breaker is still in it.
	generation uint64
	// probe is the slot's ID when the attempt is a half-open probe.
	probe string
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
	// onEvent, when set, sees every transition this process authors
	// (LocalBreakers records them).
	onEvent func(steps.BreakerEvent)

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
				refused = &steps.Error{Type: steps.TypeBreakerOpen, Message: "circuit breaker refused this attempt", NonRetryable: true}
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
	switch {
	case refused != nil:
		traceBreaker(ctx, t.Breaker.Name, tracing.BreakerRefused)
	case permit != nil && permit.probe != "":
		traceBreaker(ctx, t.Breaker.Name, tracing.BreakerProbe)
	default:
		traceBreaker(ctx, t.Breaker.Name, tracing.BreakerAllowed)
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
	se := steps.AsError(err)
	switch se.Type {
	case steps.TypeBadInput, steps.TypeNotImplemented:
		return outcomeNeutral
	}
	if !t.Retry.Retryable(se) {
		return outcomeSuccess
	}
	return outcomeFailure
}

// admit decides whether an attempt guarded by p may run. It returns a permit
// to hand to report, or the non-retryable *steps.Error to record instead of
// calling the handler, or an error when the bucket could not be used. lease
// bounds how long a probe may hold its slot without reporting.
func (b *breakers) admit(ctx context.Context, p steps.BreakerPolicy, lease time.Duration) (*breakerPermit, *steps.Error, error) {
	if why := p.Problem(); why != "" {
		return nil, &steps.Error{Type: steps.TypeInvalidBreaker, Message: why, NonRetryable: true}, nil
	}
	p = p.Resolved()
	if until, ok := b.cachedOpen(p.Name); ok {
		return nil, openError(p.Name, until), nil
	}
	var (
		permit  *breakerPermit
		refused *steps.Error
	)
	err := b.mutate(ctx, p.Name, func(rec *kv.Breaker, now time.Time, _ bool) (bool, *steps.BreakerEvent) {
		permit, refused = nil, nil
		switch rec.State {
		case kv.BreakerOpen:
			reason := "reset_timeout"
			if now.Before(rec.OpenUntil) {
				if rec.OpenUntil.Sub(now) <= p.ResetTimeout+maxClockSkew {
					refused = openError(p.Name, rec.OpenUntil)
					b.cacheOpen(p.Name, rec.OpenUntil, now)
					return false, nil
				}
				// No worker opens a breaker for longer than its reset
				// timeout: waiting for this deadline would keep the
				// channel shut until someone resets it by hand.
				reason = "impossible_open_until"
			}
			until := rec.OpenUntil
			newGeneration(rec, kv.BreakerHalfOpen)
			rec.Successes, rec.Probes = 0, nil
			permit = b.takeProbe(rec, p, now, lease)
			ev := b.event(rec, kv.BreakerOpen, reason, now)
			if reason == "impossible_open_until" {
				ev.Error = fmt.Sprintf("open until %s, more than the reset timeout %s and %s from now", until.UTC().Format(time.RFC3339Nano), p.ResetTimeout, maxClockSkew)
			}
			return true, ev
		case kv.BreakerHalfOpen:
			var ev *steps.BreakerEvent
			live, impossible := liveProbes(rec.Probes, now, lease)
			rec.Probes = live
			if impossible > 0 {
				ev = b.event(rec, kv.BreakerHalfOpen, "impossible_lease", now)
				ev.Error = fmt.Sprintf("%d probe lease(s) end more than their step's start-to-close and %s grace from now; treated as expired", impossible, probeLeaseGrace+maxClockSkew)
			}
			if len(rec.Probes) >= p.HalfOpenMaxCalls {
				refused = &steps.Error{Type: steps.TypeBreakerOpen, NonRetryable: true,
					Message: fmt.Sprintf("circuit breaker %s is half-open and its %d probe slot(s) are taken", p.Name, p.HalfOpenMaxCalls)}
				return ev != nil, ev
			}
			permit = b.takeProbe(rec, p, now, lease)
			return true, ev
		default:
			permit = &breakerPermit{policy: p, generation: rec.Generation}
			rec.Policy = kv.BreakerConfig(p) // written only with a repair
			return false, nil
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return permit, refused, nil
}

// liveProbes returns the probes whose lease has not run out at now, without
// those whose lease ends further ahead than any worker could have set it
// (their count is impossible): lease is this attempt's, and a probe that
// recorded a longer one of its own keeps it.
func liveProbes(probes []kv.BreakerProbe, now time.Time, lease time.Duration) (live []kv.BreakerProbe, impossible int) {
	for _, pr := range probes {
		switch {
		case !now.Before(pr.LeaseUntil):
		case pr.LeaseUntil.Sub(now) > max(lease, pr.Lease)+maxClockSkew:
			impossible++
		default:
			live = append(live, pr)
		}
	}
	return live, impossible
}

func (b *breakers) takeProbe(rec *kv.Breaker, p steps.BreakerPolicy, now time.Time, lease time.Duration) *breakerPermit {
	id := newProbeID()
	rec.Probes = append(rec.Probes, kv.BreakerProbe{ID: id, Worker: b.worker, StartedAt: now, LeaseUntil: now.Add(lease), Lease: lease})
	rec.Policy = kv.BreakerConfig(p)
	return &breakerPermit{policy: p, generation: rec.Generation, probe: id}
}

// report records the outcome of an attempt that admit let run.
func (b *breakers) report(ctx context.Context, permit *breakerPermit, outcome breakerOutcome) error {
	p := permit.policy
	if permit.probe != "" {
		return b.reportProbe(ctx, permit, outcome)
	}
	if outcome == outcomeNeutral {
		return nil
	}
	return b.mutate(ctx, p.Name, func(rec *kv.Breaker, now time.Time, _ bool) (bool, *steps.BreakerEvent) {
		if rec.State != kv.BreakerClosed || rec.Generation != permit.generation {
			// The breaker moved since the attempt was admitted (it opened,
			// and may have closed again): the outcome belongs to a
			// generation that is over.
			return false, nil
		}
		if p.RateBased() {
			return b.countRate(rec, p, outcome, now)
		}
		if outcome == outcomeSuccess {
			// However the attempt overlapped the failures, it completed
			// after them: they are no longer consecutive.
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

// countRate adds an outcome to the failure-rate window of a closed breaker
// and opens it if the window holds MinimumCalls calls and the failure rate
// reached FailureRateThreshold (or, when the policy sets one, the
// consecutive failures reached FailureThreshold). Every outcome is written.
func (b *breakers) countRate(rec *kv.Breaker, p steps.BreakerPolicy, outcome breakerOutcome, now time.Time) (bool, *steps.BreakerEvent) {
	failed := outcome == outcomeFailure
	rec.Window = addToWindow(rec.Window, p.Window, now, failed)
	rec.Policy = kv.BreakerConfig(p)
	if failed {
		rec.Failures++
	} else {
		rec.Failures = 0
	}
	if p.FailureThreshold > 0 && rec.Failures >= p.FailureThreshold {
		b.trip(rec, p, now)
		return true, b.event(rec, kv.BreakerClosed, "failure_threshold", now)
	}
	calls, failures := rec.WindowCounts(now, p.Window)
	if calls < p.MinimumCalls || failureRate(failures, calls) < p.FailureRateThreshold {
		return true, nil
	}
	b.trip(rec, p, now)
	ev := b.event(rec, kv.BreakerClosed, "failure_rate", now)
	ev.Failures, ev.Calls = failures, calls
	return true, ev
}

// reportProbe records a half-open probe's outcome and frees its slot.
func (b *breakers) reportProbe(ctx context.Context, permit *breakerPermit, outcome breakerOutcome) error {
	p := permit.policy
	return b.mutate(ctx, p.Name, func(rec *kv.Breaker, now time.Time, _ bool) (bool, *steps.BreakerEvent) {
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

// newGeneration moves the breaker to state in a new generation: outcomes of
// attempts admitted before no longer count.
func newGeneration(rec *kv.Breaker, state string) {
	rec.State = state
	rec.Generation++
	rec.Window = nil
}

// trip opens the breaker for one ResetTimeout.
func (b *breakers) trip(rec *kv.Breaker, p steps.BreakerPolicy, now time.Time) {
	newGeneration(rec, kv.BreakerOpen)
	rec.OpenedAt, rec.OpenUntil = now, now.Add(p.ResetTimeout)
	rec.Successes, rec.Probes = 0, nil
	rec.Opens++
}

// closeBreaker closes the breaker with no failures.
func closeBreaker(rec *kv.Breaker) {
	newGeneration(rec, kv.BreakerClosed)
	rec.Failures, rec.Successes, rec.Probes = 0, 0, nil
	rec.OpenUntil = time.Time{}
}

// mutate runs one read-decide-write cycle on the named record until its
// write wins. decide gets the current record (a fresh closed one when the key
// is missing, corrupt or in an unknown state; found says whether it was
// missing) and says whether to write it back and which transition to publish
// once written. A repaired record is always written back.
func (b *breakers) mutate(ctx context.Context, name string, decide func(rec *kv.Breaker, now time.Time, found bool) (bool, *steps.BreakerEvent)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	for round := 0; round < maxBreakerWrites; round++ {
		rec, rev, err := kv.Get[kv.Breaker](ctx, b.bucket, name)
		found := true
		var repair *steps.BreakerEvent
		switch {
		case err == nil:
			if !rec.KnownState() {
				repair = &steps.BreakerEvent{Reason: "unknown_state",
					Error: fmt.Sprintf("revision %d has state %q, not closed, open or half_open", rev, rec.State)}
			}
		case errors.Is(err, kv.ErrNotFound):
			found, rec, rev = false, kv.Breaker{State: kv.BreakerClosed}, 0
		case errors.Is(err, kv.ErrCorrupt):
			rec = kv.Breaker{}
			repair = &steps.BreakerEvent{Reason: "corrupt_record", Error: fmt.Sprintf("revision %d did not decode", rev)}
		default:
			return fmt.Errorf("reading breaker %s: %w", name, err)
		}
		if repair != nil {
			// A fresh closed record in a generation no attempt holds: every
			// generation so far was written at a revision below rev.
			rec = kv.Breaker{State: kv.BreakerClosed, Opens: rec.Opens, Generation: max(rec.Generation+1, rev)}
		}
		rec.Name = name
		now := b.now()
		write, ev := decide(&rec, now, found)
		if !write && repair == nil {
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
		if repair != nil {
			b.log.Warn("jetflow: circuit breaker record repaired: treated as closed and overwritten", "breaker", name, "revision", rev, "reason", repair.Reason, "err", repair.Error)
			repair.Name, repair.From, repair.To, repair.Time, repair.Worker = name, "corrupt", kv.BreakerClosed, now.UTC(), b.worker
			b.publish(*repair)
		}
		if ev != nil {
			b.publish(*ev)
		}
		return nil
	}
	return fmt.Errorf("%w: breaker %s still contended after %d writes", kv.ErrConflict, name, maxBreakerWrites)
}

func (b *breakers) event(rec *kv.Breaker, from, reason string, now time.Time) *steps.BreakerEvent {
	return &steps.BreakerEvent{Name: rec.Name, From: from, To: rec.State, Failures: rec.Failures, Time: now.UTC(),
		Worker: b.worker, OpenUntil: rec.OpenUntil.UTC(), Reason: reason}
}

// publish reports a transition. Like status events it is a core publish
// captured by the event stream: it reports the state, it never is the state.
func (b *breakers) publish(ev steps.BreakerEvent) {
	if b.onEvent != nil {
		b.onEvent(ev)
	}
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

func openError(name string, until time.Time) *steps.Error {
	return &steps.Error{Type: steps.TypeBreakerOpen, NonRetryable: true,
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
	err := b.mutate(ctx, name, func(rec *kv.Breaker, now time.Time, found bool) (bool, *steps.BreakerEvent) {
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
