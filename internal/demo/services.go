package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"

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
	seq   atomic.Int64
}

// FlakyFailures is how many attempts FaultInventoryFlaky fails per reservation.
const FlakyFailures = 2

// NewServices returns services recording into l, or into a new MemLedger
// when l is nil.
func NewServices(l Ledger) *Services {
	if l == nil {
		l = NewMemLedger()
	}
	return &Services{Ledger: l, flaky: map[string]int{}}
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
	e, err := s.Ledger.Record(ctx, Effect{Key: key, Kind: EffectReserve, OrderID: in.OrderID, Ref: ref("RSV", key)})
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
	if in.has(FaultPrimaryDown) {
		return PaymentOutput{}, steps.NewError(ErrTypeChannelUnavailable, "primary payment channel: 503 service unavailable (simulated)")
	}
	return s.charge(ctx, in, ChannelPrimary, "TXN-P")
}

// FallbackPaymentHandler charges on the fallback channel.
func (s *Services) FallbackPaymentHandler(ctx context.Context, in PaymentInput) (PaymentOutput, error) {
	s.called(FallbackPayment.Name())
	return s.charge(ctx, in, ChannelFallback, "TXN-F")
}

func (s *Services) charge(ctx context.Context, in PaymentInput, channel, prefix string) (PaymentOutput, error) {
	if strings.HasPrefix(in.UserID, BrokeUserPrefix) {
		return PaymentOutput{}, steps.NewError(ErrTypeInsufficientFunds, "user %s: %.2f declined on the %s channel", in.UserID, in.Amount, channel)
	}
	if in.Amount <= 0 || math.IsNaN(in.Amount) || math.IsInf(in.Amount, 0) {
		return PaymentOutput{}, steps.NewError(ErrTypeInvalidPaymentMethod, "amount %v", in.Amount)
	}
	key := s.key(ctx)
	e, err := s.Ledger.Record(ctx, Effect{Key: key, Kind: EffectCharge, OrderID: in.OrderID, Ref: ref(prefix, key), Channel: channel, Amount: in.Amount})
	if err != nil {
		return PaymentOutput{}, err
	}
	return PaymentOutput{TransactionID: e.Ref, Channel: e.Channel}, nil
}

// RefundPaymentHandler refunds a transaction (a compensation).
func (s *Services) RefundPaymentHandler(ctx context.Context, transactionID string) (struct{}, error) {
	s.called(RefundPayment.Name())
	key := s.key(ctx)
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
	_, err = s.Ledger.Record(ctx, Effect{Key: key, Kind: EffectRefund, Ref: ref("RFD", key), Undoes: transactionID, Amount: amount})
	return struct{}{}, err
}

// CreateShipmentHandler books the carrier and returns the shipment ID.
// FaultShippingDown makes the carrier unavailable.
func (s *Services) CreateShipmentHandler(ctx context.Context, in OrderInput) (string, error) {
	s.called(CreateShipment.Name())
	if in.has(FaultShippingDown) {
		return "", steps.NewError(ErrTypeCarrierUnavailable, "carrier API: connection refused (simulated)")
	}
	key := s.key(ctx)
	e, err := s.Ledger.Record(ctx, Effect{Key: key, Kind: EffectShip, OrderID: in.OrderID, Ref: ref("SHP", key)})
	if err != nil {
		return "", err
	}
	return e.Ref, nil
}

// SendNotificationHandler tells the user the order is confirmed.
func (s *Services) SendNotificationHandler(ctx context.Context, in OrderInput) (struct{}, error) {
	s.called(SendNotification.Name())
	key := s.key(ctx)
	_, err := s.Ledger.Record(ctx, Effect{Key: key, Kind: EffectNotify, OrderID: in.OrderID, Ref: ref("NTF", key)})
	return struct{}{}, err
}
