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
// A missing key is a closed breaker with no failures. An undecodable value,
// or one whose State is none of the three above, is treated the same way and
// overwritten by the next revision-checked write.
//
// Unlike the other records it is stored as JSON, so that operators read it
// with `nats kv get jetflow_breakers <name>`; it is small (a failure-rate
// window adds at most a few dozen buckets) and written when the breaker
// moves, when failures are counted, and under a failure-rate policy on every
// outcome. Records written as msgpack (jetflow before JSON
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
	// Generation counts the breaker's state changes (and resets and
	// repairs). An attempt remembers the generation that admitted it, and
	// its outcome counts only while the breaker is still in that generation:
	// a failure that comes back after the breaker opened and closed again
	// says nothing about the service now.
	Generation uint64 `msgpack:"g,omitempty" json:"generation"`
	// Probes are the half-open probes in flight. A probe holds its slot until
	// it reports or its lease runs out, whichever comes first, so a probe
	// whose worker died cannot wedge the breaker.
	Probes []BreakerProbe `msgpack:"p,omitempty" json:"probes,omitempty"`
	// Window holds the outcomes of the current generation's recent
	// attempts, for a failure-rate policy: one bucket per tenth of the
	// policy's window, oldest first, aligned on absolute time so that every
	// worker adds to the same buckets. Empty for a consecutive-failure
	// policy and whenever the breaker is not closed.
	Window    []BreakerBucket `msgpack:"w,omitempty" json:"window,omitempty"`
	UpdatedAt time.Time       `msgpack:"ua" json:"updated_at"`
	UpdatedBy string          `msgpack:"ub,omitempty" json:"updated_by,omitempty"`
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
	// Lease is how long the probe may hold its slot (its step's
	// StartToClose plus a grace), so that a worker running a step with a
	// shorter timeout can still tell a long lease from an impossible one.
	Lease time.Duration `msgpack:"l,omitempty" json:"lease_ns,omitempty"`
}

// BreakerBucket counts the outcomes of one slice of a failure-rate window.
type BreakerBucket struct {
	// Start is where the slice begins; it ends a tenth of the window later.
	Start    time.Time `msgpack:"s" json:"start"`
	Calls    int       `msgpack:"c" json:"calls"`
	Failures int       `msgpack:"f,omitempty" json:"failures"`
}

// BreakerConfig mirrors steps.BreakerPolicy field for field (kv cannot
// import steps), so the two convert into each other with a plain conversion.
type BreakerConfig struct {
	Name             string        `msgpack:"n" json:"name"`
	FailureThreshold int           `msgpack:"f,omitempty" json:"failure_threshold"`
	ResetTimeout     time.Duration `msgpack:"r,omitempty" json:"reset_timeout_ns"`
	HalfOpenMaxCalls int           `msgpack:"h,omitempty" json:"half_open_max_calls"`
	SuccessThreshold int           `msgpack:"s,omitempty" json:"success_threshold"`
	// The failure-rate policy; zero when the breaker counts consecutive
	// failures only.
	FailureRateThreshold float64       `msgpack:"fr,omitempty" json:"failure_rate_threshold,omitempty"`
	MinimumCalls         int           `msgpack:"mc,omitempty" json:"minimum_calls,omitempty"`
	Window               time.Duration `msgpack:"wd,omitempty" json:"window_ns,omitempty"`
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

// BreakerWindowBuckets is how many buckets span a failure-rate window.
const BreakerWindowBuckets = 10

// WindowFloor is where the failure-rate window of the given length ends at
// now, exclusive: it holds the bucket now falls in and the nine before it,
// so it covers between nine and ten tenths of window.
func WindowFloor(now time.Time, window time.Duration) time.Time {
	return now.Truncate(window / BreakerWindowBuckets).Add(-window)
}

// WindowCounts sums the calls and failures of the buckets inside the
// failure-rate window at now.
func (b *Breaker) WindowCounts(now time.Time, window time.Duration) (calls, failures int) {
	floor := WindowFloor(now, window)
	for _, bk := range b.Window {
		if bk.Start.After(floor) {
			calls += bk.Calls
			failures += bk.Failures
		}
	}
	return calls, failures
}

// KnownState reports whether State is one of the three states; a record
// with any other (a hand edit, a newer format) is repaired as closed.
func (b *Breaker) KnownState() bool {
	switch b.State {
	case BreakerClosed, BreakerOpen, BreakerHalfOpen:
		return true
	}
	return false
}

// storedAsJSON makes Marshal and Unmarshal use JSON for breaker records.
func (Breaker) storedAsJSON() {}
