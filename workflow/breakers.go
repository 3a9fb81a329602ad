package workflow

import (
	"context"
	"errors"
	"fmt"
	"github.com/jetflow-dev/jetflow/internal/runner"
	"slices"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/kv"
	"github.com/jetflow-dev/jetflow/steps"
)

// ErrBreakerNotFound is returned by ResetBreaker for a name that has no
// breaker record (no step guarded by it has run yet).
var ErrBreakerNotFound = errors.New("jetflow: no such circuit breaker")

// BreakerState is a shared circuit breaker as the breakers bucket holds it.
type BreakerState struct {
	Name string
	// State is "closed", "open" or "half_open".
	State string
	// Failures counts consecutive failures (while closed, toward
	// Policy.FailureThreshold; otherwise those that opened it).
	Failures int
	// Successes counts the successful probes of the current half-open period.
	Successes int
	// OpenedAt is when it last opened; OpenUntil when it lets probes through.
	OpenedAt  time.Time
	OpenUntil time.Time
	// Opens counts how often it opened since it was created or reset.
	Opens int
	// Probes counts the half-open probes in flight (leases not run out).
	Probes int
	// Generation counts its state changes; outcomes of attempts admitted in
	// an earlier generation are ignored.
	Generation uint64
	// WindowCalls and WindowFailures are the outcomes in the failure-rate
	// window now, under a failure-rate policy.
	WindowCalls    int
	WindowFailures int
	UpdatedAt      time.Time
	UpdatedBy      string
	// Policy is the policy of the breaker's last writer.
	Policy steps.BreakerPolicy
	// Corrupt is set when the record did not decode or has an unknown
	// state; workers treat it as closed and overwrite it on their next
	// attempt.
	Corrupt bool
}

// Breakers returns every circuit breaker of the namespace, sorted by name.
// A breaker appears once a step guarded by it has run.
func (c *Client) Breakers(ctx context.Context) ([]BreakerState, error) {
	ctx, cancel := breakerCtx(ctx)
	defer cancel()
	bucket := c.env.Buckets.Breakers
	_, _, name := kv.BucketNames(c.env.Names.Prefix)
	keys, err := c.env.Keys(ctx, name)
	if err != nil {
		return nil, c.deployed(ctx, name, fmt.Errorf("jetflow: listing circuit breakers: %w", err))
	}
	now := time.Now()
	out := make([]BreakerState, 0, len(keys))
	for _, k := range keys {
		rec, _, err := kv.Get[kv.Breaker](ctx, bucket, k)
		switch {
		case err == nil:
		case errors.Is(err, kv.ErrNotFound):
			continue // deleted since listed
		case errors.Is(err, kv.ErrCorrupt):
			out = append(out, BreakerState{Name: k, State: kv.BreakerClosed, Corrupt: true})
			continue
		default:
			return nil, fmt.Errorf("jetflow: reading circuit breaker %s: %w", k, err)
		}
		if !rec.KnownState() {
			out = append(out, BreakerState{Name: k, State: kv.BreakerClosed, Opens: rec.Opens, Corrupt: true})
			continue
		}
		st := BreakerState{
			Name: k, State: rec.State, Failures: rec.Failures, Successes: rec.Successes,
			OpenedAt: rec.OpenedAt, OpenUntil: rec.OpenUntil, Opens: rec.Opens,
			Probes: len(rec.LiveProbes(now)), Generation: rec.Generation, UpdatedAt: rec.UpdatedAt, UpdatedBy: rec.UpdatedBy,
			Policy: steps.BreakerPolicy(rec.Policy),
		}
		if rec.Policy.Window > 0 {
			st.WindowCalls, st.WindowFailures = rec.WindowCounts(now, rec.Policy.Window)
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b BreakerState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ResetBreaker closes the named breaker at once and clears its failures and
// probes; the transition is published like any other, with reason "reset".
// Workers that saw the breaker open notice within a second. A name without
// a record gives ErrBreakerNotFound.
func (c *Client) ResetBreaker(ctx context.Context, name string) error {
	if !steps.ValidName(name) {
		return fmt.Errorf("%w: breaker %q", ErrInvalidName, name)
	}
	ctx, cancel := breakerCtx(ctx)
	defer cancel()
	by := c.cfg.name
	if by == "" {
		by = "client"
	}
	err := runner.ResetBreaker(ctx, c.env, name, by)
	if errors.Is(err, kv.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrBreakerNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("jetflow: resetting circuit breaker %s: %w", name, err)
	}
	return nil
}

// breakerCtx bounds ctx by 30s when the caller set no deadline.
func breakerCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, 30*time.Second)
}
