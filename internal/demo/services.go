package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetflow-dev/jetflow/steps"
)

// Services simulates the order, inventory, payment, shipping and
// notification services the saga calls. Each handler is a step: it takes
// the step's idempotency key from its context and records its effect in the
// Ledger under that key, so a second attempt with the key returns the first
// one's result and has no second effect. Services is safe for concurrent use.
type Services struct {
	Ledger Ledger

	calls sync.Map // step name -> *atomic.Int64
	mu    sync.Mutex
	// flaky counts the calls per idempotency key that FaultInventoryFlaky
	// has failed so far.
	flaky map[string]int
	// busy counts the handler calls in progress per order (under mu): an
	// attempt whose run stopped waiting for it may still be recording.
	busy map[string]int
	seq  atomic.Int64
}

// FlakyFailures is how many attempts FaultInventoryFlaky fails per reservation.
const FlakyFailures = 2

// NewServices returns services recording into l, or into a new MemLedger
// when l is nil.
func NewServices(l Ledger) *Services {
	if l == nil {
		l = NewMemLedger()
	}
	return &Services{Ledger: l, flaky: map[string]int{}, busy: map[string]int{}}
}

// Calls is how many times the named step's handler was called in this
// process: attempts that reached the service, failed or not. An attempt an
// open breaker refused is not a call.
func (s *Services) Calls(step string) int {
	if v, ok := s.calls.Load(step); ok {
		return int(v.(*atomic.Int64).Load())
	}
	return 0
}

func (s *Services) called(step string) {
	v, _ := s.calls.LoadOrStore(step, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// enter notes a handler call for the order until the returned func runs.
func (s *Services) enter(orderID string) (leave func()) {
	s.mu.Lock()
	s.busy[orderID]++
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if s.busy[orderID]--; s.busy[orderID] == 0 {
			delete(s.busy, orderID)
		}
		s.mu.Unlock()
	}
}

// Idle waits until no handler call of the order is in progress in this
// process, so that its ledger can be read: a canceled run does not wait for
// the attempt it stopped, and that attempt may record after the run ended.
func (s *Services) Idle(ctx context.Context, orderID string) error {
	for {
		s.mu.Lock()
		n := s.busy[orderID]
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: waiting for %d call(s) of order %s: %w", n, orderID, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// abandoned says whether the caller gave up on the call before it was
// made: a run canceled meanwhile gets a non-retryable Canceled, as the
// engine records it, so the call is neither retried nor counted against a
// breaker.
func abandoned(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.Canceled) {
		return steps.NonRetryable(steps.TypeCanceled, "call abandoned: its run was canceled")
	}
	return err
}

// effect records a forward step's effect. When the key holds a void, the
// order was canceled while this step ran and the cancel came first: the
// step has no effect, and says so.
func (s *Services) effect(ctx context.Context, e Effect) (Effect, error) {
	got, err := s.Ledger.Record(ctx, e)
	if err != nil {
		return got, err
	}
	if got.Kind != e.Kind {
		return got, steps.NonRetryable(ErrTypeVoided, "%s of order %s: voided by its cancellation (%s)", e.Kind, e.OrderID, got.Ref)
	}
	return got, nil
}

// key is the attempt's idempotency key; a handler called outside a step (a
// unit test) gets a unique one, so nothing is deduplicated by accident.
func (s *Services) key(ctx context.Context) string {
	if k := steps.IdempotencyKey(ctx); k != "" {
		return k
	}
	return fmt.Sprintf("local/%d", s.seq.Add(1))
}

// ref derives a stable ID from the idempotency key, as a service that
// honours the key would: every attempt sees the same ID.
func ref(prefix, key string) string {
	h := sha256.Sum256([]byte(key))
	return prefix + "-" + strings.ToUpper(hex.EncodeToString(h[:5]))
}

// ValidateOrderHandler checks the order: IDs, at least one item, positive
// quantities, prices not negative, a total that matches the items, an address.
func (s *Services) ValidateOrderHandler(ctx context.Context, in OrderInput) (ValidationResult, error) {
	s.called(ValidateOrder.Name())
	invalid := func(format string, args ...any) (ValidationResult, error) {
		return ValidationResult{Valid: false, Reason: fmt.Sprintf(format, args...)}, nil
	}
	switch {
	case strings.TrimSpace(in.OrderID) == "":
		return invalid("order_id is empty")
	case strings.TrimSpace(in.UserID) == "":
		return invalid("user_id is empty")
	case len(in.Items) == 0:
		return invalid("no items")
	case strings.TrimSpace(in.ShippingAddress) == "":
		return invalid("shipping_address is empty")
	}
	for _, d := range []struct{ name, value string }{{"three_ds_timeout", in.ThreeDSTimeout}, {"ship_after", in.ShipAfter}} {
		if _, err := parseWait(d.value, 0); err != nil {
			return invalid("%s: %v", d.name, err)
		}
	}
	var sum float64
	for i, it := range in.Items {
		switch {
		case strings.TrimSpace(it.ProductID) == "":
			return invalid("item %d: product_id is empty", i+1)
		case it.Quantity <= 0:
			return invalid("item %d (%s): quantity %d", i+1, it.ProductID, it.Quantity)
		case it.Price < 0 || math.IsNaN(it.Price) || math.IsInf(it.Price, 0):
			return invalid("item %d (%s): price %v", i+1, it.ProductID, it.Price)
		}
		sum += float64(it.Quantity) * it.Price
	}
	if math.Abs(sum-in.TotalAmount) > 0.005 {
		return invalid("total_amount %.2f does not match the items (%.2f)", in.TotalAmount, sum)
	}
	return ValidationResult{Valid: true}, nil
}

// ReserveInventoryHandler reserves the order's items and returns the
// reservation ID. A product whose ID starts with SoldOutPrefix has no stock
// (InsufficientStock); FaultInventoryFlaky fails the first FlakyFailures
// calls with InventoryUnavailable.
func (s *Services) ReserveInventoryHandler(ctx context.Context, in OrderInput) (string, error) {
	s.called(ReserveInventory.Name())
	defer s.enter(in.OrderID)()
	if err := abandoned(ctx); err != nil {
		return "", err
	}
	key := s.key(ctx)
	for _, it := range in.Items {
		if strings.HasPrefix(it.ProductID, SoldOutPrefix) {
			return "", steps.NewError(ErrTypeInsufficientStock, "product %s: %d requested, 0 in stock", it.ProductID, it.Quantity)
		}
	}
	if in.has(FaultInventoryFlaky) {
		// The engine numbers attempts the same in every process, so the
		// first attempts fail wherever they run: on several workers, or on
		// one restarted after a crash. A per-process count would fail them
		// all once each worker saw one. Outside a step, calls are counted.
		var n int
		if info, ok := steps.InfoFrom(ctx); ok && info.Attempt > 0 {
			n = info.Attempt
		} else {
			s.mu.Lock()
			s.flaky[key]++
			n = s.flaky[key]
			s.mu.Unlock()
		}
		if n <= FlakyFailures {
			return "", steps.NewError(ErrTypeInventoryUnavailable, "inventory service timed out (simulated, call %d)", n)
		}
	}
	e, err := s.effect(ctx, Effect{Key: key, Kind: EffectReserve, OrderID: in.OrderID, Ref: ref("RSV", key)})
	if err != nil {
		return "", err
	}
	return e.Ref, nil
}

// ReleaseInventoryHandler releases a reservation (a compensation).
func (s *Services) ReleaseInventoryHandler(ctx context.Context, reservationID string) (struct{}, error) {
	s.called(ReleaseInventory.Name())
	key := s.key(ctx)
	_, err := s.Ledger.Record(ctx, Effect{Key: key, Kind: EffectRelease, Ref: ref("REL", key), Undoes: reservationID})
	return struct{}{}, err
}

// ProcessPaymentHandler charges on the primary channel. FaultPrimaryDown
// makes the channel unavailable; a user whose ID starts with BrokeUserPrefix
// is declined with InsufficientFunds.
func (s *Services) ProcessPaymentHandler(ctx context.Context, in PaymentInput) (PaymentOutput, error) {
	s.called(ProcessPayment.Name())
	defer s.enter(in.OrderID)()
	if in.has(FaultPrimaryDown) {
		return PaymentOutput{}, steps.NewError(ErrTypeChannelUnavailable, "primary payment channel: 503 service unavailable (simulated)")
	}
	return s.charge(ctx, in, ChannelPrimary, "TXN-P")
}

// FallbackPaymentHandler charges on the fallback channel.
func (s *Services) FallbackPaymentHandler(ctx context.Context, in PaymentInput) (PaymentOutput, error) {
	s.called(FallbackPayment.Name())
	defer s.enter(in.OrderID)()
	return s.charge(ctx, in, ChannelFallback, "TXN-F")
}

func (s *Services) charge(ctx context.Context, in PaymentInput, channel, prefix string) (PaymentOutput, error) {
	if err := abandoned(ctx); err != nil {
		return PaymentOutput{}, err
	}
	if strings.HasPrefix(in.UserID, BrokeUserPrefix) {
		return PaymentOutput{}, steps.NewError(ErrTypeInsufficientFunds, "user %s: %.2f declined on the %s channel", in.UserID, in.Amount, channel)
	}
	if in.Amount <= 0 || math.IsNaN(in.Amount) || math.IsInf(in.Amount, 0) {
		return PaymentOutput{}, steps.NewError(ErrTypeInvalidPaymentMethod, "amount %v", in.Amount)
	}
	key := s.key(ctx)
	e, err := s.effect(ctx, Effect{Key: key, Kind: EffectCharge, OrderID: in.OrderID, Ref: ref(prefix, key), Channel: channel, Amount: in.Amount})
	if err != nil {
		return PaymentOutput{}, err
	}
	return PaymentOutput{TransactionID: e.Ref, Channel: e.Channel}, nil
}

// RefundPaymentHandler refunds a transaction in full (a compensation, and
// what ReconcilePayments asks for). The refund is recorded under a key of
// the transaction's, not under the step's: a transaction is refunded once
// whoever asks, as a payment API refuses to refund a charge twice. The
// step's key would not do across runs: every run of the reconciliation has
// its own workflow ID, so two of them asking for one refund would have two
// keys.
func (s *Services) RefundPaymentHandler(ctx context.Context, transactionID string) (struct{}, error) {
	s.called(RefundPayment.Name())
	key := s.key(ctx)
	if transactionID != "" {
		key = "refund/" + transactionID
	}
	info, _ := steps.InfoFrom(ctx)
	// The amount is the charge's: a refund recorded while the ledger cannot
	// be read would stay a refund of 0 for good, so that is a retry.
	all, err := s.Ledger.Effects(ctx)
	if err != nil {
		return struct{}{}, err
	}
	var amount float64
	for _, e := range all {
		if e.Kind == EffectCharge && e.Ref == transactionID {
			amount = e.Amount
		}
	}
	_, err = s.Ledger.Record(ctx, Effect{Key: key, Kind: EffectRefund, Run: info.WorkflowID, Ref: ref("RFD", key), Undoes: transactionID, Amount: amount})
	return struct{}{}, err
}

// CreateShipmentHandler books the carrier and returns the shipment ID.
// FaultShippingDown makes the carrier unavailable.
func (s *Services) CreateShipmentHandler(ctx context.Context, in OrderInput) (string, error) {
	s.called(CreateShipment.Name())
	defer s.enter(in.OrderID)()
	if in.has(FaultShippingDown) {
		return "", steps.NewError(ErrTypeCarrierUnavailable, "carrier API: connection refused (simulated)")
	}
	if err := abandoned(ctx); err != nil {
		return "", err
	}
	key := s.key(ctx)
	e, err := s.effect(ctx, Effect{Key: key, Kind: EffectShip, OrderID: in.OrderID, Ref: ref("SHP", key)})
	if err != nil {
		return "", err
	}
	return e.Ref, nil
}

// SendNotificationHandler tells the user the order is confirmed.
func (s *Services) SendNotificationHandler(ctx context.Context, in OrderInput) (struct{}, error) {
	s.called(SendNotification.Name())
	defer s.enter(in.OrderID)()
	if err := abandoned(ctx); err != nil {
		return struct{}{}, err
	}
	key := s.key(ctx)
	_, err := s.Ledger.Record(ctx, Effect{Key: key, Kind: EffectNotify, OrderID: in.OrderID, Ref: ref("NTF", key)})
	return struct{}{}, err
}

// VoidReservationHandler settles the ReserveInventory step a canceled order
// was running when the cancel came (a compensation): the reservation is
// released if it was made, and can no longer be made if it was not.
func (s *Services) VoidReservationHandler(ctx context.Context, p PendingStep) (struct{}, error) {
	s.called(VoidReservation.Name())
	return struct{}{}, s.void(ctx, p, func(key string, made Effect) Effect {
		return Effect{Key: key, Kind: EffectRelease, Ref: ref("REL", key), Undoes: made.Ref}
	})
}

// VoidPaymentHandler settles the charge a canceled order was making on
// either channel (a compensation): refunded if it was made, impossible if not.
func (s *Services) VoidPaymentHandler(ctx context.Context, p PendingStep) (struct{}, error) {
	s.called(VoidPayment.Name())
	return struct{}{}, s.void(ctx, p, func(key string, made Effect) Effect {
		return Effect{Key: key, Kind: EffectRefund, Ref: ref("RFD", key), Undoes: made.Ref, Amount: made.Amount}
	})
}

// VoidShipmentHandler settles the shipment a canceled order was booking (a
// compensation): called back if it was booked, impossible if not.
func (s *Services) VoidShipmentHandler(ctx context.Context, p PendingStep) (struct{}, error) {
	s.called(VoidShipment.Name())
	return struct{}{}, s.void(ctx, p, func(key string, made Effect) Effect {
		return Effect{Key: key, Kind: EffectCancelShipment, Ref: ref("SHC", key), Undoes: made.Ref}
	})
}

// void takes the idempotency key of the pending step with a void, which
// the ledger's first-write-wins makes atomic against the step's own
// effect: either the void comes first and the step, however late its
// attempt lands, has no effect, or the step's effect is there and undo
// records what undoes it, under this compensation's own key. Either way
// the effect is undone once.
func (s *Services) void(ctx context.Context, p PendingStep, undo func(key string, made Effect) Effect) error {
	key := s.key(ctx)
	target, err := siblingKey(key, p.Seq)
	if err != nil {
		return err
	}
	got, err := s.Ledger.Record(ctx, Effect{Key: target, Kind: EffectVoid, OrderID: p.OrderID, Ref: ref("VOID", target)})
	if err != nil || got.Kind == EffectVoid {
		return err
	}
	_, err = s.Ledger.Record(ctx, undo(key, got))
	return err
}

// siblingKey is the idempotency key of the step at position seq of the run
// whose step has key: the keys of one run differ only in their position
// ("<workflowID>/<seq>", see steps.Info).
func siblingKey(key string, seq int) (string, error) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 || seq <= 0 {
		return "", steps.NonRetryable(steps.TypeBadInput, "no step at position %d beside idempotency key %q", seq, key)
	}
	return key[:i+1] + strconv.Itoa(seq), nil
}
