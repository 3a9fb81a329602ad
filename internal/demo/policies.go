package demo

import (
	"fmt"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
)

// The source document's step options, with every interval ten times shorter
// (and the breaker's reset timeout 60 s → 2 s) so that the demo shows
// retries, backoff and a breaker cycle in a few seconds.

// PrimaryBreaker guards the primary payment channel: every worker, every run
// shares it. The seed's breaker opens after 3 failures and resets after 60 s.
const (
	PrimaryBreakerName  = "payment-primary"
	BreakerThreshold    = 3
	BreakerResetTimeout = 2 * time.Second
)

// The primary breaker's policies, as OrderInput.Breaker names them.
const (
	// BreakerConsecutive opens after BreakerThreshold consecutive failures:
	// the document's breaker, and the default.
	BreakerConsecutive = "consecutive"
	// BreakerRate opens when at least BreakerFailureRate of the calls in
	// the last BreakerWindow failed, once BreakerMinimumCalls completed in it.
	BreakerRate = "rate"
)

// The failure-rate policy's figures (failsafe-go's and resilience4j's usual
// shape: half of at least 20 calls in 10 s).
const (
	BreakerFailureRate  = 0.5
	BreakerMinimumCalls = 20
	BreakerWindow       = 10 * time.Second
)

// BreakerPolicies lists the values OrderInput.Breaker takes.
func BreakerPolicies() []string { return []string{BreakerConsecutive, BreakerRate} }

// DescribeBreaker says in words when the named policy opens the breaker.
func DescribeBreaker(policy string) string {
	if policy == BreakerRate {
		return fmt.Sprintf("%g %% failures of at least %d calls in %s, open %s", 100*BreakerFailureRate, BreakerMinimumCalls, BreakerWindow, BreakerResetTimeout)
	}
	return fmt.Sprintf("%d consecutive failures, open %s", BreakerThreshold, BreakerResetTimeout)
}

// primaryBreaker is the named policy; anything but BreakerRate is the
// document's.
func primaryBreaker(policy string) *steps.BreakerPolicy {
	p := &steps.BreakerPolicy{
		Name:             PrimaryBreakerName,
		FailureThreshold: BreakerThreshold,
		ResetTimeout:     BreakerResetTimeout,
		HalfOpenMaxCalls: 1,
		SuccessThreshold: 1,
	}
	if policy == BreakerRate {
		p.FailureThreshold = 0
		p.FailureRateThreshold, p.MinimumCalls, p.Window = BreakerFailureRate, BreakerMinimumCalls, BreakerWindow
	}
	return p
}

// defaultOptions apply to steps the document gives no options of their own.
func defaultOptions() steps.Options {
	return steps.Options{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &steps.RetryPolicy{MaxAttempts: 3, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, BackoffCoefficient: 2},
	}
}

// reserveOptions: the document's ReserveInventory policy (3 attempts from
// 1 s, at most 10 s apart, InsufficientStock not retried).
func reserveOptions() steps.Options {
	return steps.Options{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &steps.RetryPolicy{
			MaxAttempts:            3,
			InitialInterval:        100 * time.Millisecond,
			MaxInterval:            time.Second,
			BackoffCoefficient:     2,
			NonRetryableErrorTypes: []string{ErrTypeInsufficientStock},
		},
	}
}

// primaryPaymentOptions: PaymentWithFallback's primary channel, 2 attempts
// from 1 s (at most 5 s apart), behind the shared breaker with the named
// policy. Declines are the customer's answer, not the channel's trouble: not
// retried.
func primaryPaymentOptions(breaker string) steps.Options {
	return steps.Options{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &steps.RetryPolicy{
			MaxAttempts:            2,
			InitialInterval:        100 * time.Millisecond,
			MaxInterval:            500 * time.Millisecond,
			BackoffCoefficient:     2,
			NonRetryableErrorTypes: []string{ErrTypeInsufficientFunds, ErrTypeInvalidPaymentMethod},
		},
		Breaker: primaryBreaker(breaker),
	}
}

// fallbackPaymentOptions: the fallback channel. The document leaves its
// retries at the default (unlimited); the demo bounds them.
func fallbackPaymentOptions() steps.Options {
	return steps.Options{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &steps.RetryPolicy{
			MaxAttempts:            3,
			InitialInterval:        100 * time.Millisecond,
			MaxInterval:            time.Second,
			BackoffCoefficient:     2,
			NonRetryableErrorTypes: []string{ErrTypeInsufficientFunds, ErrTypeInvalidPaymentMethod},
		},
	}
}

// shipmentOptions: the document's 30 s start-to-close; 3 attempts, or, for
// an order that asks for the document's own policy (RetryShipmentForever),
// the default one: unlimited attempts, here 100 ms then doubling to at most
// 1 s apart (the default's 1 s and 100 s, ten times shorter, and capped so
// that terminate_stuck sees a retry every second).
func shipmentOptions(in OrderInput) steps.Options {
	o := steps.Options{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &steps.RetryPolicy{MaxAttempts: 3, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, BackoffCoefficient: 2},
	}
	if in.RetryShipmentForever {
		o.RetryPolicy.MaxAttempts = 0
	}
	return o
}

// compensationOptions: compensations retry longer than other steps (an
// inventory left reserved or a charge left standing is worse than a late
// order), but not forever: one that still fails ends the run
// compensation_failed.
func compensationOptions() steps.Options {
	return steps.Options{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &steps.RetryPolicy{MaxAttempts: 10, InitialInterval: 100 * time.Millisecond, MaxInterval: 2 * time.Second, BackoffCoefficient: 2},
	}
}
