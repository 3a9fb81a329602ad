package demo

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Effect kinds the simulated services record.
const (
	EffectReserve = "reserve"
	EffectRelease = "release"
	EffectCharge  = "charge"
	EffectRefund  = "refund"
	EffectShip    = "ship"
	EffectNotify  = "notify"
	// EffectCancelShipment calls back a shipment booked for an order that
	// was canceled meanwhile.
	EffectCancelShipment = "cancel_shipment"
	// EffectVoid is recorded under the idempotency key of a step that was
	// running when its order was canceled, before that step could record
	// its own effect: the key is taken, so the step, when it comes, has none.
	EffectVoid = "void"
)

// Effect is one thing a simulated service did, recorded once per
// idempotency key.
type Effect struct {
	// Key is the idempotency key of the step attempt that caused it.
	Key     string `json:"key"`
	Kind    string `json:"kind"`
	OrderID string `json:"order_id,omitempty"`
	// Run is the workflow ID of the run whose step had the effect, for the
	// exercise workflows and for refunds (the saga's other effects name
	// their order instead; a refund names the transaction it undoes, and
	// the run says which order or reconciliation asked for it).
	Run string `json:"run,omitempty"`
	// Ref is what the effect produced: a reservation, transaction, shipment,
	// release or refund ID.
	Ref string `json:"ref"`
	// Undoes is, for a release or a refund, the reservation or transaction
	// it undoes.
	Undoes  string    `json:"undoes,omitempty"`
	Channel string    `json:"channel,omitempty"`
	Amount  float64   `json:"amount,omitempty"`
	At      time.Time `json:"at"`
}

// Ledger records the effects of the simulated services. Record must be
// idempotent on Effect.Key: the first effect with a key is stored, and every
// later Record with that key returns the stored one and stores nothing. That
// is what a downstream service honouring the idempotency key does.
// Implementations are safe for concurrent use.
type Ledger interface {
	Record(ctx context.Context, e Effect) (stored Effect, err error)
	Effects(ctx context.Context) ([]Effect, error)
}

// Counts are the effects of a ledger (or of one order), by kind.
type Counts struct {
	Reserved        int `json:"reserved"`
	Released        int `json:"released"`
	Charged         int `json:"charged"`
	ChargedPrimary  int `json:"charged_primary"`
	ChargedFallback int `json:"charged_fallback"`
	Refunded        int `json:"refunded"`
	Shipped         int `json:"shipped"`
	Notified        int `json:"notified"`
	// ShipmentsCanceled and Voided count what canceled orders undid (see
	// EffectCancelShipment and EffectVoid).
	ShipmentsCanceled int     `json:"shipments_canceled"`
	Voided            int     `json:"voided"`
	ChargedAmount     float64 `json:"charged_amount"`
	RefundedAmount    float64 `json:"refunded_amount"`
}

// Count adds up effects by kind.
func Count(effects []Effect) Counts {
	var c Counts
	for _, e := range effects {
		switch e.Kind {
		case EffectReserve:
			c.Reserved++
		case EffectRelease:
			c.Released++
		case EffectCharge:
			c.Charged++
			c.ChargedAmount += e.Amount
			if e.Channel == ChannelFallback {
				c.ChargedFallback++
			} else {
				c.ChargedPrimary++
			}
		case EffectRefund:
			c.Refunded++
			c.RefundedAmount += e.Amount
		case EffectShip:
			c.Shipped++
		case EffectNotify:
			c.Notified++
		case EffectCancelShipment:
			c.ShipmentsCanceled++
		case EffectVoid:
			c.Voided++
		}
	}
	c.ChargedAmount, c.RefundedAmount = cents(c.ChargedAmount), cents(c.RefundedAmount)
	return c
}

// Summary says the counts in words ("reserved 1, released 1"), the zero
// ones and the amounts left out.
func (c Counts) Summary() string {
	s := ""
	for _, k := range []struct {
		what string
		n    int
	}{{"reserved", c.Reserved}, {"released", c.Released}, {"charged", c.Charged}, {"refunded", c.Refunded}, {"shipped", c.Shipped},
		{"called back", c.ShipmentsCanceled}, {"notified", c.Notified}, {"voided", c.Voided}} {
		if k.n > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%s %d", k.what, k.n)
		}
	}
	if s == "" {
		return "nothing"
	}
	return s
}

func cents(x float64) float64 { return math.Round(x*100) / 100 }

// ForOrder returns the effects of one order: those naming it, and the
// releases and refunds that undo them.
func ForOrder(effects []Effect, orderID string) []Effect {
	refs := map[string]bool{}
	var out []Effect
	for _, e := range effects {
		if e.OrderID == orderID {
			refs[e.Ref] = true
			out = append(out, e)
		}
	}
	for _, e := range effects {
		if e.OrderID != orderID && e.Undoes != "" && refs[e.Undoes] {
			out = append(out, e)
		}
	}
	return out
}

// MemLedger is a Ledger in memory, shared by the workers of one process.
type MemLedger struct {
	mu    sync.Mutex
	byKey map[string]Effect
	order []string
}

var _ Ledger = (*MemLedger)(nil)

// NewMemLedger returns an empty in-memory ledger.
func NewMemLedger() *MemLedger { return &MemLedger{byKey: map[string]Effect{}} }

// Record stores e unless its key is known, and returns the stored effect.
func (l *MemLedger) Record(_ context.Context, e Effect) (Effect, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.byKey[e.Key]; ok {
		return old, nil
	}
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	l.byKey[e.Key] = e
	l.order = append(l.order, e.Key)
	return e, nil
}

// Effects returns every effect in the order it was recorded.
func (l *MemLedger) Effects(context.Context) ([]Effect, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Effect, 0, len(l.order))
	for _, k := range l.order {
		out = append(out, l.byKey[k])
	}
	return out, nil
}

// Counts adds up every effect.
func (l *MemLedger) Counts() Counts {
	e, _ := l.Effects(context.Background())
	return Count(e)
}

// Order adds up the effects of one order.
func (l *MemLedger) Order(orderID string) Counts {
	e, _ := l.Effects(context.Background())
	return Count(ForOrder(e, orderID))
}

// sortByTime orders effects read from a store without an order of its own.
func sortByTime(effects []Effect) {
	slices.SortStableFunc(effects, func(a, b Effect) int { return a.At.Compare(b.At) })
}
