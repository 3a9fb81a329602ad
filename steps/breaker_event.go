package steps

import "time"

// TypeInvalidBreaker is the error type of a step whose BreakerPolicy is
// invalid (no valid name, an impossible FailureRateThreshold); the step
// fails at once, non-retryable.
const TypeInvalidBreaker = "InvalidBreaker"

// BreakerEvent is one transition of a breaker, published as JSON on
// <prefix>.breaker.<name>.<to> and kept by the event stream.
type BreakerEvent struct {
	Name string `json:"name"`
	// From is the state before, or "corrupt" for a record that did not
	// decode or had an unknown state.
	From string `json:"from"`
	To   string `json:"to"`
	// Failures is the consecutive failures; for reason failure_rate, the
	// failures among the window's Calls.
	Failures  int       `json:"failures"`
	Successes int       `json:"successes,omitempty"`
	Calls     int       `json:"calls,omitempty"`
	Time      time.Time `json:"time"`
	Worker    string    `json:"worker,omitempty"`
	OpenUntil time.Time `json:"open_until,omitzero"`
	// Reason says why: failure_threshold, failure_rate, reset_timeout,
	// probe_failed, probes_succeeded, reset, or a repair: corrupt_record,
	// unknown_state, impossible_open_until (open to half_open before the
	// recorded deadline) or impossible_lease (half_open to half_open, the
	// probes with impossible leases dropped).
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}
