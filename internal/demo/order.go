package demo

import "time"

// Run statuses of OrderOrchestration, as the source document names them.
const (
	StatusCompleted        = "completed"
	StatusValidationFailed = "validation_failed"
	StatusOutOfStock       = "out_of_stock"
	StatusPaymentFailed    = "payment_failed"
	StatusShipmentFailed   = "shipment_failed"
	// StatusCanceled: the run was canceled (jetflow cancel) and compensated.
	StatusCanceled = "canceled"
)

// Faults a test or the demo can inject through OrderInput.Faults: trouble in
// the infrastructure rather than in the order's data.
const (
	// FaultInventoryFlaky makes ReserveInventory time out on its first two
	// attempts for the order, on whichever workers they run, then succeed.
	FaultInventoryFlaky = "inventory_flaky"
	// FaultPrimaryDown makes the primary payment channel answer every call
	// for the order with PaymentChannelUnavailable.
	FaultPrimaryDown = "payment_primary_down"
	// FaultShippingDown makes the carrier refuse every CreateShipment call
	// for the order with CarrierUnavailable.
	FaultShippingDown = "shipping_down"
)

// Default3DSTimeout is how long an order that requires 3-D Secure waits for
// the customer's confirmation when its input names no timeout.
const Default3DSTimeout = 15 * time.Minute

// Data that the simulated services treat as business outcomes.
const (
	// SoldOutPrefix starts the product IDs that have no stock.
	SoldOutPrefix = "SOLDOUT"
	// BrokeUserPrefix starts the user IDs whose payments are declined
	// (InsufficientFunds) on every channel.
	BrokeUserPrefix = "BROKE"
)

// Step error types the simulated services return.
const (
	ErrTypeInsufficientStock    = "InsufficientStock"
	ErrTypeInventoryUnavailable = "InventoryUnavailable"
	ErrTypeInsufficientFunds    = "InsufficientFunds"
	ErrTypeInvalidPaymentMethod = "InvalidPaymentMethod"
	ErrTypeChannelUnavailable   = "PaymentChannelUnavailable"
	ErrTypeCarrierUnavailable   = "CarrierUnavailable"
	// ErrTypeVoided: the step's effect was voided (its order was canceled
	// while the step ran) before the service could make it.
	ErrTypeVoided = "Voided"
)

// OrderInput is the source document's OrderOrchestrationInput. Faults and
// Breaker are jetflow's additions for the demo; inputs without them are the
// document's.
type OrderInput struct {
	OrderID         string      `json:"order_id" msgpack:"order_id"`
	UserID          string      `json:"user_id" msgpack:"user_id"`
	Items           []OrderItem `json:"items" msgpack:"items"`
	TotalAmount     float64     `json:"total_amount" msgpack:"total_amount"`
	ShippingAddress string      `json:"shipping_address" msgpack:"shipping_address"`
	// Faults lists the Fault constants to simulate for this order.
	Faults []string `json:"faults,omitempty" msgpack:"faults,omitempty"`
	// Breaker picks the policy of the primary channel's breaker:
	// BreakerConsecutive (the default, the document's) or BreakerRate.
	Breaker string `json:"breaker,omitempty" msgpack:"breaker,omitempty"`
	// Require3DS makes the payment wait for the customer's 3-D Secure
	// confirmation (the Confirm3DS signal) before it charges; an order
	// without an approval within ThreeDSTimeout (a Go duration,
	// Default3DSTimeout when empty) ends payment_failed.
	Require3DS     bool   `json:"require_3ds,omitempty" msgpack:"require_3ds,omitempty"`
	ThreeDSTimeout string `json:"three_ds_timeout,omitempty" msgpack:"three_ds_timeout,omitempty"`
	// ShipAfter (a Go duration) holds the paid order that long before it
	// ships: a window in which the customer can still cancel it without a
	// parcel to call back.
	ShipAfter string `json:"ship_after,omitempty" msgpack:"ship_after,omitempty"`
	// PayAsChild runs the payment as a child workflow of the order
	// (PaymentWithFallback, ID "<order ID>-payment") instead of inline: a
	// run of its own, with its own history, linked both ways.
	PayAsChild bool `json:"pay_as_child,omitempty" msgpack:"pay_as_child,omitempty"`
	// RetryShipmentForever gives CreateShipment the source document's
	// policy, the default one: unlimited attempts (with the demo's backoff),
	// where the demo otherwise stops after 3.
	RetryShipmentForever bool `json:"retry_shipment_forever,omitempty" msgpack:"retry_shipment_forever,omitempty"`
}

// Confirmation is the customer's answer to the bank's 3-D Secure challenge.
type Confirmation struct {
	Approved bool `json:"approved" msgpack:"approved"`
}

// PendingStep names a step whose outcome a canceled order did not learn:
// the one that was running when the cancel came. Its Void compensation
// settles it.
type PendingStep struct {
	OrderID string `json:"order_id" msgpack:"order_id"`
	// Seq is the step's position in the order's run.
	Seq int `json:"seq" msgpack:"seq"`
}

// OrderItem is one line of an order.
type OrderItem struct {
	ProductID string  `json:"product_id" msgpack:"product_id"`
	Quantity  int     `json:"quantity" msgpack:"quantity"`
	Price     float64 `json:"price" msgpack:"price"`
}

// OrderOutput is the source document's OrderOrchestrationOutput: the IDs are
// null until the order got that far.
type OrderOutput struct {
	OrderID       string  `json:"order_id" msgpack:"order_id"`
	Status        string  `json:"status" msgpack:"status"`
	TransactionID *string `json:"transaction_id" msgpack:"transaction_id"`
	ShipmentID    *string `json:"shipment_id" msgpack:"shipment_id"`
}

// ValidationResult is what ValidateOrder returns.
type ValidationResult struct {
	Valid  bool   `json:"valid" msgpack:"valid"`
	Reason string `json:"reason,omitempty" msgpack:"reason,omitempty"`
}

// PaymentInput is the source document's PaymentInput, the input of both
// payment channels and of PaymentWithFallback.
type PaymentInput struct {
	OrderID string   `json:"order_id" msgpack:"order_id"`
	UserID  string   `json:"user_id" msgpack:"user_id"`
	Amount  float64  `json:"amount" msgpack:"amount"`
	Faults  []string `json:"faults,omitempty" msgpack:"faults,omitempty"`
	// Breaker is OrderInput.Breaker.
	Breaker string `json:"breaker,omitempty" msgpack:"breaker,omitempty"`
}

// PaymentOutput is a successful charge.
type PaymentOutput struct {
	TransactionID string `json:"transaction_id" msgpack:"transaction_id"`
	// Channel is ChannelPrimary or ChannelFallback.
	Channel string `json:"channel" msgpack:"channel"`
}

// Payment channels.
const (
	ChannelPrimary  = "primary"
	ChannelFallback = "fallback"
)

func (in OrderInput) has(fault string) bool   { return hasFault(in.Faults, fault) }
func (in PaymentInput) has(fault string) bool { return hasFault(in.Faults, fault) }

func hasFault(faults []string, f string) bool {
	for _, x := range faults {
		if x == f {
			return true
		}
	}
	return false
}
