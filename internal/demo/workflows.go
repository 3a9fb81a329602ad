package demo

import (
	"errors"

	"github.com/jetflow-dev/jetflow/steps"
	"github.com/jetflow-dev/jetflow/workflow"
)

// OrderOrchestration is the source document's order workflow: validate,
// reserve inventory, pay, ship, notify, undoing what was done when a later
// step fails. It never fails as a run for a business outcome: the outcome
// is its output's Status.
var OrderOrchestration = workflow.New("OrderOrchestration", OrderOrchestrationWorkflow)

// PaymentWithFallback is the source document's payment with a fallback
// channel, as a workflow of its own. OrderOrchestration calls the same code
// (PayWithFallback) inline.
var PaymentWithFallback = workflow.New("PaymentWithFallback", PayWithFallback)

// OrderOrchestrationWorkflow follows the document's Go version line for line;
// the compensations are a Saga, so they are durable steps with their own
// retries and a failed one is never lost.
func OrderOrchestrationWorkflow(ctx workflow.Context, input OrderInput) (OrderOutput, error) {
	logger := workflow.GetLogger(ctx)
	logger.Info("Starting order orchestration", "order_id", input.OrderID)
	ctx = workflow.WithStepOptions(ctx, defaultOptions())

	// 1. 验证订单 (validate the order)
	validation, err := workflow.ExecuteStep(ctx, ValidateOrder, input).Get(ctx)
	if ctx.Err() != nil {
		// Canceled (jetflow cancel): nothing to undo yet.
		return OrderOutput{OrderID: input.OrderID, Status: StatusCanceled}, ctx.Err()
	}
	if err != nil || !validation.Valid {
		return OrderOutput{
			OrderID: input.OrderID,
			Status:  StatusValidationFailed,
		}, nil
	}

	// 2. 预留库存 (reserve the inventory)
	reservationID, err := workflow.ExecuteStep(workflow.WithStepOptions(ctx, reserveOptions()), ReserveInventory, input).Get(ctx)
	if ctx.Err() != nil {
		// A reservation that went through while the cancel came is
		// released: the compensation runs whether or not it was made.
		if err == nil {
			saga := workflow.NewSaga(ctx).WithOptions(compensationOptions())
			workflow.AddCompensation(saga, ReleaseInventory, reservationID)
			_ = saga.Compensate(ctx)
		}
		return OrderOutput{OrderID: input.OrderID, Status: StatusCanceled}, ctx.Err()
	}
	if err != nil {
		return OrderOutput{
			OrderID: input.OrderID,
			Status:  StatusOutOfStock,
		}, nil
	}
	saga := workflow.NewSaga(ctx).WithOptions(compensationOptions())
	workflow.AddCompensation(saga, ReleaseInventory, reservationID)

	// 3. 处理支付 (pay: the primary channel behind the shared breaker, else the fallback)
	payment, err := PayWithFallback(ctx, PaymentInput{OrderID: input.OrderID, UserID: input.UserID, Amount: input.TotalAmount, Faults: input.Faults, Breaker: input.Breaker})
	if ctx.Err() != nil {
		// Canceled: refund what was charged, release the inventory.
		if err == nil {
			workflow.AddCompensation(saga, RefundPayment, payment.TransactionID)
		}
		_ = saga.Compensate(ctx)
		return OrderOutput{OrderID: input.OrderID, Status: StatusCanceled}, ctx.Err()
	}
	if err != nil {
		// 补偿：释放库存 (compensate: release the inventory). A compensation
		// that fails for good ends the run compensation_failed by itself.
		_ = saga.Compensate(ctx)

		return OrderOutput{
			OrderID: input.OrderID,
			Status:  StatusPaymentFailed,
		}, nil
	}
	transactionID := payment.TransactionID
	workflow.AddCompensation(saga, RefundPayment, transactionID)

	// 4. 创建发货单 (create the shipment)
	shipmentID, err := workflow.ExecuteStep(workflow.WithStepOptions(ctx, shipmentOptions()), CreateShipment, input).Get(ctx)
	if ctx.Err() != nil && err != nil {
		// Canceled before it shipped: refund, then release.
		_ = saga.Compensate(ctx)
		return OrderOutput{OrderID: input.OrderID, Status: StatusCanceled, TransactionID: &transactionID}, ctx.Err()
	}
	if err != nil {
		// 补偿：退款 + 释放库存 (compensate: refund, then release the inventory)
		_ = saga.Compensate(ctx)

		return OrderOutput{
			OrderID:       input.OrderID,
			Status:        StatusShipmentFailed,
			TransactionID: &transactionID,
		}, nil
	}

	// 5. 发送通知 (notify the user; a failed notification does not undo the order)
	_, _ = workflow.ExecuteStep(ctx, SendNotification, input).Get(ctx)

	return OrderOutput{
		OrderID:       input.OrderID,
		Status:        StatusCompleted,
		TransactionID: &transactionID,
		ShipmentID:    &shipmentID,
	}, nil
}

// PayWithFallback charges on the primary channel with its retry policy and,
// when that fails (or the shared breaker is open and refuses at once), on
// the fallback channel. Call it from workflow code.
func PayWithFallback(ctx workflow.Context, input PaymentInput) (PaymentOutput, error) {
	// 尝试主支付渠道 (the primary channel)
	result, err := workflow.ExecuteStep(workflow.WithStepOptions(ctx, primaryPaymentOptions(input.Breaker)), ProcessPayment, input).Get(ctx)
	if err == nil || ctx.Err() != nil {
		return result, err
	}
	workflow.GetLogger(ctx).Warn("Primary payment failed, trying fallback",
		"error", err, "breaker_open", errors.Is(err, steps.ErrBreakerOpen))

	// 尝试备用支付渠道 (the fallback channel)
	return workflow.ExecuteStep(workflow.WithStepOptions(ctx, fallbackPaymentOptions()), FallbackPayment, input).Get(ctx)
}
