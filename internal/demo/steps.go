package demo

import (
	"context"

	"github.com/jetflow-dev/jetflow/steps"
)

// The saga's steps, by name and type. Workflow code calls these; a worker
// runs them with the handlers of a Services value (see Register), so each
// process, and each test, brings its own ledger.
var (
	ValidateOrder    = steps.Ref[OrderInput, ValidationResult]("ValidateOrder")
	ReserveInventory = steps.Ref[OrderInput, string]("ReserveInventory")
	ReleaseInventory = steps.Ref[string, struct{}]("ReleaseInventory")
	ProcessPayment   = steps.Ref[PaymentInput, PaymentOutput]("ProcessPayment")
	FallbackPayment  = steps.Ref[PaymentInput, PaymentOutput]("FallbackPayment")
	RefundPayment    = steps.Ref[string, struct{}]("RefundPayment")
	CreateShipment   = steps.Ref[OrderInput, string]("CreateShipment")
	SendNotification = steps.Ref[OrderInput, struct{}]("SendNotification")

	// The compensations of a step that was running when its order was
	// canceled: the saga adds them before the step's outcome is known.
	VoidReservation = steps.Ref[PendingStep, struct{}]("VoidReservation")
	VoidPayment     = steps.Ref[PendingStep, struct{}]("VoidPayment")
	VoidShipment    = steps.Ref[PendingStep, struct{}]("VoidShipment")
)

// implement gives a declared step its handler; the types must match.
func implement[I, O any](decl *steps.Definition[I, O], fn func(context.Context, I) (O, error)) steps.Handler {
	return steps.New(decl.Name(), fn)
}

// Handlers returns the steps implemented by s, in the saga's order, then
// the reconciliation's.
func (s *Services) Handlers() []steps.Handler {
	return []steps.Handler{
		implement(ValidateOrder, s.ValidateOrderHandler),
		implement(ReserveInventory, s.ReserveInventoryHandler),
		implement(ReleaseInventory, s.ReleaseInventoryHandler),
		implement(ProcessPayment, s.ProcessPaymentHandler),
		implement(FallbackPayment, s.FallbackPaymentHandler),
		implement(RefundPayment, s.RefundPaymentHandler),
		implement(CreateShipment, s.CreateShipmentHandler),
		implement(SendNotification, s.SendNotificationHandler),
		implement(VoidReservation, s.VoidReservationHandler),
		implement(VoidPayment, s.VoidPaymentHandler),
		implement(VoidShipment, s.VoidShipmentHandler),
		implement(FindUnshippedCharges, s.FindUnshippedChargesHandler),
	}
}
