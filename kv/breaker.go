package kv

import "time"

// Circuit breaker states, as stored in Breaker.State and used as the last
// token of the breaker's event subject.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half_open"
)

// Breaker is the record of one shared circuit breaker in the breakers
// bucket, key = breaker name. It lives here with the other records; the
// state machine that moves it (package steps) changes it only with [Create]
// and [Update], so concurrent workers serialize on its revision.
//
// A missing key is a closed breaker with no failures. An undecodable value
// is treated the same way and overwritten by the next revision-checked write.
//
// Unlike the other records it is stored as JSON, so that operators read it
// with `nats kv get jetflow_breakers <name>`; it is small and written only
// when the breaker moves. Records written as msgpack (jetflow before JSON
// breakers) still decode.
type Breaker struct {
	// Name, State, Failures, Opens and OpenUntil come first: the nats CLI
	// shows the first 120 bytes of a value.
	Name  string `msgpack:"n" json:"name"`
	State string `msgpack:"st" json:"state"`
	// Failures counts consecutive failures: while closed, those that may open
	// it; while open or half-open, those that opened it.
	Failures int `msgpack:"f,omitempty" json:"failures"`
	// Opens counts how often the breaker opened since it was created or reset.
	Opens int `msgpack:"o,omitempty" json:"opens"`
	// OpenedAt is when the breaker last opened; OpenUntil is when it lets
	// probes through. Both are set by the worker that opened it, so every
	// worker waits for the same deadline.
	OpenUntil time.Time `msgpack:"ou,omitempty" json:"open_until,omitzero"`
	OpenedAt  time.Time `msgpack:"oa,omitempty" json:"opened_at,omitzero"`
	// Successes counts the successful probes of the current half-open period.
	Successes int `msgpack:"s,omitempty" json:"successes"`
	// Probes are the half-open probes in flight. A probe holds its slot until
	// it reports or its lease runs out, whichever comes first, so a probe
	// whose worker died cannot wedge the breaker.
	Probes    []BreakerProbe `msgpack:"p,omitempty" json:"probes,omitempty"`
	UpdatedAt time.Time      `msgpack:"ua" json:"updated_at"`
	UpdatedBy string         `msgpack:"ub,omitempty" json:"updated_by,omitempty"`
	// Policy is the policy of the last write, for operators; every attempt
	// decides with the policy its own task carries.
	Policy BreakerConfig `msgpack:"pl" json:"policy"`
}

// BreakerProbe is one half-open probe holding a slot.
type BreakerProbe struct {
	ID         string    `msgpack:"id" json:"id"`
	Worker     string    `msgpack:"w,omitempty" json:"worker,omitempty"`
	StartedAt  time.Time `msgpack:"sa" json:"started_at"`
	LeaseUntil time.Time `msgpack:"lu" json:"lease_until"`
}

// BreakerConfig mirrors steps.BreakerPolicy field for field (kv cannot
// import steps), so the two convert into each other with a plain conversion.
type BreakerConfig struct {
	Name             string        `msgpack:"n" json:"name"`
	FailureThreshold int           `msgpack:"f,omitempty" json:"failure_threshold"`
	ResetTimeout     time.Duration `msgpack:"r,omitempty" json:"reset_timeout_ns"`
	HalfOpenMaxCalls int           `msgpack:"h,omitempty" json:"half_open_max_calls"`
	SuccessThreshold int           `msgpack:"s,omitempty" json:"success_threshold"`
}

// LiveProbes returns the probes whose lease has not run out at now.
func (b *Breaker) LiveProbes(now time.Time) []BreakerProbe {
	var live []BreakerProbe
	for _, p := range b.Probes {
		if now.Before(p.LeaseUntil) {
			live = append(live, p)
		}
	}
	return live
}

// storedAsJSON makes Marshal and Unmarshal use JSON for breaker records.
func (Breaker) storedAsJSON() {}
