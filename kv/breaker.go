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
type Breaker struct {
	Name  string `msgpack:"n"`
	State string `msgpack:"st"`
	// Failures counts consecutive failures: while closed, those that may open
	// it; while open or half-open, those that opened it.
	Failures int `msgpack:"f,omitempty"`
	// Successes counts the successful probes of the current half-open period.
	Successes int `msgpack:"s,omitempty"`
	// OpenedAt is when the breaker last opened; OpenUntil is when it lets
	// probes through. Both are set by the worker that opened it, so every
	// worker waits for the same deadline.
	OpenedAt  time.Time `msgpack:"oa,omitempty"`
	OpenUntil time.Time `msgpack:"ou,omitempty"`
	// Opens counts how often the breaker opened since it was created or reset.
	Opens int `msgpack:"o,omitempty"`
	// Probes are the half-open probes in flight. A probe holds its slot until
	// it reports or its lease runs out, whichever comes first, so a probe
	// whose worker died cannot wedge the breaker.
	Probes    []BreakerProbe `msgpack:"p,omitempty"`
	UpdatedAt time.Time      `msgpack:"ua"`
	UpdatedBy string         `msgpack:"ub,omitempty"`
	// Policy is the policy of the last write, for operators; every attempt
	// decides with the policy its own task carries.
	Policy BreakerConfig `msgpack:"pl"`
}

// BreakerProbe is one half-open probe holding a slot.
type BreakerProbe struct {
	ID         string    `msgpack:"id"`
	Worker     string    `msgpack:"w,omitempty"`
	StartedAt  time.Time `msgpack:"sa"`
	LeaseUntil time.Time `msgpack:"lu"`
}

// BreakerConfig mirrors steps.BreakerPolicy field for field (kv cannot
// import steps), so the two convert into each other with a plain conversion.
type BreakerConfig struct {
	Name             string        `msgpack:"n"`
	FailureThreshold int           `msgpack:"f,omitempty"`
	ResetTimeout     time.Duration `msgpack:"r,omitempty"`
	HalfOpenMaxCalls int           `msgpack:"h,omitempty"`
	SuccessThreshold int           `msgpack:"s,omitempty"`
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
