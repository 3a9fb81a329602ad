package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jetflow-dev/jetflow/workflow"
)

// What RunOrders mixes into its random orders besides Mix's recipes: a
// share of the orders is canceled at a random point, and a share requires
// the 3-D Secure confirmation, which comes or not. The draws come from a
// stream of their own, so a seed gives the same recipes as before.
const (
	// DefaultCancelPercent of the orders are canceled at a random point,
	// up to MaxCancelDelay after they start.
	DefaultCancelPercent = 10
	MaxCancelDelay       = 150 * time.Millisecond
	// Default3DSPercent of the orders require 3-D Secure: half of them are
	// approved, a quarter declined, a quarter never answered (their wait
	// is the demo's 2 s).
	Default3DSPercent = 10
)

// The customer's answers to a 3-D Secure challenge, as TalkReport counts them.
const (
	answerApproved = "approved"
	answerDeclined = "declined"
	answerNone     = "unanswered"
)

// TalkReport counts what RunOrders sent its orders and how they took it.
type TalkReport struct {
	CancelPercent  int `json:"cancel_percent"`
	ThreeDSPercent int `json:"three_ds_percent"`
	// CancelsSent counts the orders canceled at a random point: Canceled
	// ended canceled, with each effect they had made undone; the others
	// came too late (TooLate, by the status the order ended with instead).
	CancelsSent int            `json:"cancels_sent"`
	Canceled    int            `json:"canceled"`
	TooLate     map[string]int `json:"too_late"`
	// InFlight counts the canceled orders whose cancel caught a step
	// running: a Void compensation settled it (see Counts.Voided for those
	// whose effect it prevented).
	InFlight int `json:"in_flight"`
	// NotificationsStopped counts the completed orders whose cancel came
	// while the customer was being notified, and stopped that.
	NotificationsStopped int `json:"notifications_stopped"`
	// Approved, Declined and Unanswered count the orders that required 3-D
	// Secure by the answer they got (the payment-confirmed signal, or none).
	Approved   int `json:"approved"`
	Declined   int `json:"declined"`
	Unanswered int `json:"unanswered"`
}

// talk is what RunOrders does to one running order.
type talk struct {
	// answer is the 3-D Secure answer ("" when the order does not require it).
	answer string
	cancel bool
	// after is when the cancel comes, after the start (and the answer).
	after time.Duration
}

// drawTalk draws what to do to an order, and sets the order up for it.
func drawTalk(rnd *rand.Rand, in *OrderInput, cancelPct, threeDSPct int) talk {
	var t talk
	if rnd.IntN(100) < threeDSPct {
		in.Require3DS = true
		switch n := rnd.IntN(4); {
		case n < 2:
			t.answer = answerApproved
		case n == 2:
			t.answer = answerDeclined
		default:
			t.answer = answerNone
			in.ThreeDSTimeout = demo3DSTimeout
		}
	}
	if rnd.IntN(100) < cancelPct {
		t.cancel, t.after = true, time.Duration(rnd.Int64N(int64(MaxCancelDelay)))
	}
	return t
}

// act sends the order what t says: the answer at once (a signal waits for
// the run to take it), then the cancel. An order that ended before either
// came is not an error: that is what "too late" means.
func (t talk) act(e *Env, id string) func(ctx context.Context) error {
	if t.answer == "" && !t.cancel {
		return nil
	}
	return func(ctx context.Context) error {
		var closed *workflow.RunClosedError
		if t.answer == answerApproved || t.answer == answerDeclined {
			err := workflow.Signal(ctx, e.Client, id, Confirm3DS, Confirmation{Approved: t.answer == answerApproved})
			if err != nil && !errors.As(err, &closed) {
				return fmt.Errorf("sending the 3-D Secure answer: %w", err)
			}
		}
		if !t.cancel {
			return nil
		}
		if err := pause(ctx, t.after); err != nil {
			return err
		}
		if err := e.Client.Cancel(ctx, id, cancelReason); err != nil && !errors.As(err, &closed) {
			return fmt.Errorf("canceling: %w", err)
		}
		return nil
	}
}

// want is the status the order must end with: its recipe's, unless the 3-D
// Secure answer failed the payment first; canceled too when a cancel was sent.
func (t talk) want(r Recipe) []string {
	w := r.Want
	if t.answer == answerDeclined || t.answer == answerNone {
		switch w {
		case StatusValidationFailed, StatusOutOfStock:
		default:
			w = StatusPaymentFailed
		}
	}
	if t.cancel {
		return []string{w, StatusCanceled}
	}
	return []string{w}
}

// check says what is wrong with an order's end, given what it was sent.
func (t talk) check(r Recipe, o OrderRun) []string {
	st := o.Status()
	want := t.want(r)
	var p []string
	if !slices.Contains(want, st) {
		p = append(p, fmt.Sprintf("%s, want %s", st, strings.Join(want, " or ")))
	}
	got := o.Effects
	if t.cancel && st == StatusCompleted && got.Notified == 0 {
		// The cancel came while the notification was being sent and
		// stopped it; a failed notification does not undo the order.
		got.Notified = 1
	}
	return append(p, CheckEffects(st, got)...)
}

// count adds the order to the report.
func (t talk) count(rep *TalkReport, o OrderRun) {
	switch t.answer {
	case answerApproved:
		rep.Approved++
	case answerDeclined:
		rep.Declined++
	case answerNone:
		rep.Unanswered++
	}
	if !t.cancel {
		return
	}
	rep.CancelsSent++
	if st := o.Status(); st != StatusCanceled {
		rep.TooLate[st]++
		if st == StatusCompleted && o.Effects.Notified == 0 {
			rep.NotificationsStopped++
		}
		return
	}
	rep.Canceled++
	for _, c := range o.Compensations() {
		if strings.HasPrefix(c, "Void") {
			rep.InFlight++
			break
		}
	}
}
