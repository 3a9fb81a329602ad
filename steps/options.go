package steps

import (
	"math"
	"time"
)

// Defaults applied where Options or RetryPolicy leave a field at zero.
const (
	DefaultStartToCloseTimeout = time.Minute
	DefaultInitialInterval     = time.Second
	DefaultBackoffCoefficient  = 2.0
	// The default MaxInterval is 100 × InitialInterval.
	defaultMaxIntervalFactor = 100
)

// Options says how a step is run. The zero value is valid: a one-minute
// start-to-close timeout, no schedule-to-close limit and the default retry
// policy.
type Options struct {
	// StartToCloseTimeout bounds one attempt. An attempt still running when it
	// expires is abandoned and counts as a retryable failure of type
	// StartToCloseTimeout, whether or not the handler honours its context.
	StartToCloseTimeout time.Duration
	// ScheduleToCloseTimeout bounds all attempts together, backoff included.
	// Zero means no limit.
	ScheduleToCloseTimeout time.Duration
	// RetryPolicy says how failed attempts are retried. Nil means the
	// default policy: unlimited attempts, 1s initial interval, coefficient 2,
	// at most 100s between attempts (bounded by ScheduleToCloseTimeout).
	RetryPolicy *RetryPolicy
	// Breaker guards the step with a circuit breaker shared by every worker.
	Breaker *BreakerPolicy
}

// RetryPolicy mirrors Temporal's: exponential backoff from InitialInterval,
// multiplied by BackoffCoefficient after each failure, capped at MaxInterval.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts including the first. 0 means
	// unlimited; 1 means no retries.
	MaxAttempts int
	// InitialInterval is the wait before the second attempt. Default 1s.
	InitialInterval time.Duration
	// MaxInterval caps the wait between attempts. Default 100 × InitialInterval.
	MaxInterval time.Duration
	// BackoffCoefficient multiplies the wait after each attempt. Default 2.
	BackoffCoefficient float64
	// NonRetryableErrorTypes lists the Error.Type values that end the step
	// at once.
	NonRetryableErrorTypes []string
}

// withDefaults returns the policy with zero fields replaced by defaults.
func (p *RetryPolicy) withDefaults() RetryPolicy {
	var r RetryPolicy
	if p != nil {
		r = *p
	}
	if r.InitialInterval <= 0 {
		r.InitialInterval = DefaultInitialInterval
	}
	if r.BackoffCoefficient < 1 {
		r.BackoffCoefficient = DefaultBackoffCoefficient
	}
	if r.MaxInterval <= 0 {
		r.MaxInterval = defaultMaxIntervalFactor * r.InitialInterval
	}
	if r.MaxInterval < r.InitialInterval {
		r.MaxInterval = r.InitialInterval
	}
	return r
}

// Backoff is the wait after the given failed attempt (1-based) before the next.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := float64(p.InitialInterval) * math.Pow(p.BackoffCoefficient, float64(attempt-1))
	if d > float64(p.MaxInterval) || math.IsInf(d, 0) || math.IsNaN(d) {
		return p.MaxInterval
	}
	return time.Duration(d)
}

// Resolve returns the options with every default applied, as they travel in
// a step task.
func (o Options) Resolve() Options {
	if o.StartToCloseTimeout <= 0 {
		o.StartToCloseTimeout = DefaultStartToCloseTimeout
	}
	p := o.RetryPolicy.withDefaults()
	o.RetryPolicy = &p
	return o
}
