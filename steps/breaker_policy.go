package steps

import (
	"fmt"
	"math"
	"time"
)

// BreakerPolicy guards a step with a circuit breaker. The breaker is named,
// so several steps (or workflows) can share one, and its state lives in the
// breakers bucket, so every worker in the cluster sees the same breaker.
//
// It opens on one of two rules. By default, on FailureThreshold consecutive
// failures (in the order their outcomes reach the bucket, across every
// worker):
//
//	steps.BreakerPolicy{Name: "payments", FailureThreshold: 5, ResetTimeout: time.Minute}
//
// With FailureRateThreshold set, on a share of failures among the calls of
// the last Window, once at least MinimumCalls completed in it, as
// failsafe-go's WithFailureRateThreshold and resilience4j's time-based
// sliding window do:
//
//	steps.BreakerPolicy{Name: "payments", FailureRateThreshold: 0.5, MinimumCalls: 20, Window: 10 * time.Second}
//
// A rate policy costs more: every outcome is written to the shared record
// (see the package's breaker notes in breaker.go), where the consecutive rule
// writes only failures and the success that follows them.
type BreakerPolicy struct {
	// Name identifies the breaker. Required; a valid subject token.
	Name string `msgpack:"n"`
	// FailureThreshold is how many consecutive failures open the breaker.
	// Default 5, unless FailureRateThreshold is set: then zero means the
	// rate alone decides, and a positive value opens the breaker on that
	// many consecutive failures as well.
	FailureThreshold int `msgpack:"f,omitempty"`
	// ResetTimeout is how long the breaker stays open before it lets probes
	// through (half-open). Default 60s.
	ResetTimeout time.Duration `msgpack:"r,omitempty"`
	// HalfOpenMaxCalls is how many probes may run at once while half-open,
	// across the whole cluster. Default 1.
	HalfOpenMaxCalls int `msgpack:"h,omitempty"`
	// SuccessThreshold is how many successful probes close the breaker. Default 1.
	SuccessThreshold int `msgpack:"s,omitempty"`
	// FailureRateThreshold, between 0 and 1, selects the failure-rate rule:
	// the breaker opens when failures are at least this share of the calls
	// (successes and failures) that completed within the last Window, and
	// at least MinimumCalls did. Zero (the default) keeps the consecutive
	// rule. A value above 1, negative or NaN is invalid: the step fails with
	// TypeInvalidBreaker.
	FailureRateThreshold float64 `msgpack:"fr,omitempty"`
	// MinimumCalls is how many calls the window must hold before the rate
	// can open the breaker. Default 20.
	MinimumCalls int `msgpack:"mc,omitempty"`
	// Window is how far back the rate looks. It slides in tenths of itself:
	// the rate counts the current tenth and the nine before. Default 60s.
	Window time.Duration `msgpack:"wd,omitempty"`
}

// Defaults applied where BreakerPolicy leaves a field at zero.
const (
	DefaultFailureThreshold = 5
	DefaultResetTimeout     = 60 * time.Second
	DefaultHalfOpenMaxCalls = 1
	DefaultSuccessThreshold = 1
	DefaultMinimumCalls     = 20
	DefaultWindow           = 60 * time.Second
)

// minWindow keeps a window's tenth at a millisecond or more, so that its
// buckets stay few whatever the policy says.
const minWindow = 10 * time.Millisecond

// RateBased reports whether the policy opens on a failure rate.
func (p BreakerPolicy) RateBased() bool { return p.FailureRateThreshold > 0 }

// Resolved returns the policy with zero fields replaced by defaults.
func (p BreakerPolicy) Resolved() BreakerPolicy {
	switch {
	case p.RateBased():
		p.FailureThreshold = max(p.FailureThreshold, 0)
		if p.MinimumCalls <= 0 {
			p.MinimumCalls = DefaultMinimumCalls
		}
		if p.Window <= 0 {
			p.Window = DefaultWindow
		}
		p.Window = max(p.Window, minWindow)
	case p.FailureThreshold <= 0:
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

// Problem says what is wrong with the policy, or "" when nothing is.
func (p BreakerPolicy) Problem() string {
	if !ValidName(p.Name) {
		return fmt.Sprintf("circuit breaker name %q: 1 to 128 letters, digits, '-' or '_'", p.Name)
	}
	if r := p.FailureRateThreshold; math.IsNaN(r) || r < 0 || r > 1 {
		return fmt.Sprintf("circuit breaker %s: FailureRateThreshold %v, want 0 (consecutive failures) or a share above 0 and at most 1", p.Name, r)
	}
	return ""
}
