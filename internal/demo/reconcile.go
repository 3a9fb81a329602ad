package demo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// ReconcilePayments is the nightly payment reconciliation of issue 11, run
// by a schedule: it refunds the charges whose orders never shipped (a run
// terminated while the carrier was down leaves its charge standing, since
// terminate runs no compensation). Each of its runs finds them in one step
// and refunds each through the saga's own RefundPayment step.
var ReconcilePayments = workflow.New("ReconcilePayments", ReconcilePaymentsWorkflow)

// FindUnshippedCharges lists the charges that have neither a refund nor a
// shipment for their order, oldest first.
var FindUnshippedCharges = steps.Ref[UnshippedQuery, []UnshippedCharge]("FindUnshippedCharges")

// DefaultMaxRefunds bounds the refunds of one ReconcilePayments run when
// its input sets no bound: the rest wait for the next run, so a run's
// history stays small however many charges have piled up.
const DefaultMaxRefunds = 100

// ReconcileInput is ReconcilePayments' input; the zero value refunds up to
// DefaultMaxRefunds unshipped charges made before the run started.
type ReconcileInput struct {
	// MinAge (a Go duration) leaves alone the charges younger than this: an
	// order charged a moment ago may be about to ship. Empty: none is too
	// young.
	MinAge string `json:"min_age,omitempty" msgpack:"min_age,omitempty"`
	// MaxRefunds bounds the refunds of one run (DefaultMaxRefunds when 0).
	MaxRefunds int `json:"max_refunds,omitempty" msgpack:"max_refunds,omitempty"`
}

// UnshippedQuery is what FindUnshippedCharges looks for: charges made
// before ChargedBefore, at most Max of them.
type UnshippedQuery struct {
	ChargedBefore time.Time `json:"charged_before" msgpack:"charged_before"`
	Max           int       `json:"max" msgpack:"max"`
}

// UnshippedCharge is a charge whose order has no shipment and which has no
// refund.
type UnshippedCharge struct {
	OrderID       string    `json:"order_id" msgpack:"order_id"`
	TransactionID string    `json:"transaction_id" msgpack:"transaction_id"`
	Amount        float64   `json:"amount" msgpack:"amount"`
	ChargedAt     time.Time `json:"charged_at" msgpack:"charged_at"`
}

// ReconcileOutput says what one run did: the charges it refunded, and
// those whose refund failed for good (the next run tries them again).
type ReconcileOutput struct {
	Refunded []UnshippedCharge `json:"refunded" msgpack:"refunded"`
	Failed   []UnshippedCharge `json:"failed,omitempty" msgpack:"failed,omitempty"`
}

// ReconcilePaymentsWorkflow reads the ledger only through a step, so a
// replay sees the list the run saw, whatever the ledger holds by then. Its
// runs do not coordinate: two of them (a trigger beside a tick, or the
// overlap policy allow_all) may ask for the same refund, and the payment
// service refunds a transaction once whoever asks (see
// RefundPaymentHandler).
func ReconcilePaymentsWorkflow(ctx workflow.Context, in ReconcileInput) (ReconcileOutput, error) {
	out := ReconcileOutput{Refunded: []UnshippedCharge{}}
	minAge, err := parseWait(in.MinAge, 0)
	if err != nil {
		return out, steps.NonRetryable(steps.TypeBadInput, "min_age: %v", err)
	}
	limit := in.MaxRefunds
	if limit <= 0 {
		limit = DefaultMaxRefunds
	}
	ctx = workflow.WithStepOptions(ctx, defaultOptions())
	q := UnshippedQuery{ChargedBefore: workflow.Now(ctx).Add(-minAge), Max: limit}
	found, err := workflow.ExecuteStep(ctx, FindUnshippedCharges, q).Get(ctx)
	if err != nil {
		return out, err
	}
	// The refunds run in parallel, with the saga's compensation policy.
	rctx := workflow.WithStepOptions(ctx, compensationOptions())
	refunds := make([]workflow.Future[struct{}], len(found))
	for i, c := range found {
		refunds[i] = workflow.ExecuteStep(rctx, RefundPayment, c.TransactionID)
	}
	for i, f := range refunds {
		if _, err := f.Get(ctx); err != nil {
			workflow.GetLogger(ctx).Warn("refund failed; the next run tries again", "order_id", found[i].OrderID, "transaction_id", found[i].TransactionID, "error", err)
			out.Failed = append(out.Failed, found[i])
			continue
		}
		out.Refunded = append(out.Refunded, found[i])
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	return out, nil
}

// FindUnshippedChargesHandler reads the ledger for the charges to refund.
func (s *Services) FindUnshippedChargesHandler(ctx context.Context, q UnshippedQuery) ([]UnshippedCharge, error) {
	s.called(FindUnshippedCharges.Name())
	all, err := s.Ledger.Effects(ctx)
	if err != nil {
		return nil, err
	}
	return UnshippedCharges(all, q), nil
}

// UnshippedCharges picks from effects the charges made before
// q.ChargedBefore (all of them when it is zero) that no refund undoes and
// whose order has no shipment, oldest first, at most q.Max (all when 0).
func UnshippedCharges(effects []Effect, q UnshippedQuery) []UnshippedCharge {
	refunded, shipped := map[string]bool{}, map[string]bool{}
	for _, e := range effects {
		switch e.Kind {
		case EffectRefund:
			refunded[e.Undoes] = true
		case EffectShip:
			shipped[e.OrderID] = true
		}
	}
	out := []UnshippedCharge{}
	for _, e := range effects {
		if e.Kind != EffectCharge || refunded[e.Ref] || shipped[e.OrderID] || !q.ChargedBefore.IsZero() && !e.At.Before(q.ChargedBefore) {
			continue
		}
		out = append(out, UnshippedCharge{OrderID: e.OrderID, TransactionID: e.Ref, Amount: e.Amount, ChargedAt: e.At})
	}
	slices.SortStableFunc(out, func(a, b UnshippedCharge) int { return a.ChargedAt.Compare(b.ChargedAt) })
	if q.Max > 0 && len(out) > q.Max {
		out = out[:q.Max]
	}
	return out
}

// String names the charge for a person.
func (c UnshippedCharge) String() string {
	return fmt.Sprintf("%s (%s, %.2f)", c.OrderID, c.TransactionID, c.Amount)
}
