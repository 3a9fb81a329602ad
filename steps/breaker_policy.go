package steps

import "time"

// BreakerPolicy guards a step with a circuit breaker. The breaker is named,
// so several steps (or workflows) can share one, and its state lives in the
// breakers bucket, so every worker in the cluster sees the same breaker.
type BreakerPolicy struct {
	// Name identifies the breaker. Required; a valid subject token.
	Name string `msgpack:"n"`
	// FailureThreshold is how many consecutive failures open the breaker. Default 5.
	FailureThreshold int `msgpack:"f,omitempty"`
	// ResetTimeout is how long the breaker stays open before it lets probes
	// through (half-open). Default 60s.
	ResetTimeout time.Duration `msgpack:"r,omitempty"`
	// HalfOpenMaxCalls is how many probes may run at once while half-open,
	// across the whole cluster. Default 1.
	HalfOpenMaxCalls int `msgpack:"h,omitempty"`
	// SuccessThreshold is how many successful probes close the breaker. Default 1.
	SuccessThreshold int `msgpack:"s,omitempty"`
}
