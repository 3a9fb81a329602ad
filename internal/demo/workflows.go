package demo

import (
	"errors"
	"time"

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
//
// A cancel (jetflow cancel) is answered at each step: the order undoes what
// it did and ends canceled. A step that was running when the cancel came
// may still have its effect after the order stopped waiting for it, so the
// saga undoes it with its Void compensation, which takes the step's
// idempotency key first: the effect is undone if it was made and cannot be
// made afterwards if it was not. Once the order has shipped it is done: a
// cancel that comes then is too late, and the customer is notified anyway.
func OrderOrchestrationWorkflow(ctx workflow.Context, input OrderInput) (OrderOutput, error) {
	logger := workflow.GetLogger(ctx)
	logger.Info("Starting order orchestration", "order_id", input.OrderID)
	ctx = workflow.WithStepOptions(ctx, defaultOptions())
	saga := workflow.NewSaga(ctx).WithOptions(compensationOptions())
	// `jetflow query ID progress` reads where the order stands.
	progress := OrderProgress{Stage: "validating"}
	if err := workflow.SetQueryHandler(ctx, "progress", func() (OrderProgress, error) { return progress, nil }); err != nil {
		return OrderOutput{}, err
	}
	stage := func(s string) { progress.Stage = s }
	canceled := func(transactionID *string) (OrderOutput, error) {
		stage("compensating (canceled)")
		_ = saga.Compensate(ctx)
		return OrderOutput{OrderID: input.OrderID, Status: StatusCanceled, TransactionID: transactionID}, ctx.Err()
	}
	// pending adds the Void compensation of a step the cancel interrupted.
	pending := func(void *steps.Definition[PendingStep, struct{}], seq int) {
		if seq > 0 {
			workflow.AddCompensation(saga, void, PendingStep{OrderID: input.OrderID, Seq: seq})
		}
	}

	// 1. 验证订单 (validate the order)
	validation, err := workflow.ExecuteStep(ctx, ValidateOrder, input).Get(ctx)
	awaitCancel(ctx, err)
	if ctx.Err() != nil {
		// Canceled (jetflow cancel): nothing to undo yet.
		return canceled(nil)
	}
	if err != nil || !validation.Valid {
		return OrderOutput{
			OrderID: input.OrderID,
			Status:  StatusValidationFailed,
		}, nil
	}

	// 2. 预留库存 (reserve the inventory)
	stage("reserving inventory")
	reserve := workflow.ExecuteStep(workflow.WithStepOptions(ctx, reserveOptions()), ReserveInventory, input)
	reservationID, err := reserve.Get(ctx)
	awaitCancel(ctx, err)
	if ctx.Err() != nil {
		if err == nil {
			workflow.AddCompensation(saga, ReleaseInventory, reservationID)
		} else {
			pending(VoidReservation, reserve.Seq())
		}
		return canceled(nil)
	}
	if err != nil {
		return OrderOutput{
			OrderID: input.OrderID,
			Status:  StatusOutOfStock,
		}, nil
	}
	workflow.AddCompensation(saga, ReleaseInventory, reservationID)

	// 3. 处理支付 (pay: the primary channel behind the shared breaker, else
	// the fallback; after the customer's 3-D Secure confirmation when the
	// order requires one)
	var payment PaymentOutput
	charging := 0
	stage("paying")
	if input.Require3DS {
		stage("waiting for the 3-D Secure confirmation")
		err = await3DS(ctx, input)
	}
	pay := PaymentInput{OrderID: input.OrderID, UserID: input.UserID, Amount: input.TotalAmount, Faults: input.Faults, Breaker: input.Breaker}
	switch {
	case err != nil:
	case input.PayAsChild:
		// The same payment as a run of its own; canceled with the order.
		cctx := workflow.WithChildOptions(ctx, workflow.ChildOptions{ID: ChildPaymentID(input.OrderID), ParentClosePolicy: workflow.ParentCloseCancel})
		payment, err = workflow.ExecuteChild(cctx, PaymentWithFallback, pay).Get(ctx)
	default:
		payment, charging, err = payWithFallback(ctx, pay)
	}
	if ctx.Err() != nil {
		// Canceled: refund what was charged, release the inventory.
		if err == nil {
			workflow.AddCompensation(saga, RefundPayment, payment.TransactionID)
		} else {
			pending(VoidPayment, charging)
		}
		return canceled(nil)
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

	// The paid order waits out its cancellation window, if it has one.
	progress.TransactionID = transactionID
	if wait, _ := parseWait(input.ShipAfter, 0); wait > 0 {
		stage("holding before shipping")
		if workflow.Sleep(ctx, wait) != nil || ctx.Err() != nil {
			return canceled(&transactionID)
		}
	}

	// 4. 创建发货单 (create the shipment)
	stage("shipping")
	ship := workflow.ExecuteStep(workflow.WithStepOptions(ctx, shipmentOptions(input)), CreateShipment, input)
	shipmentID, err := ship.Get(ctx)
	awaitCancel(ctx, err)
	if ctx.Err() != nil && err != nil {
		// Canceled before it shipped: call back a shipment that went
		// through meanwhile, refund, then release.
		pending(VoidShipment, ship.Seq())
		return canceled(&transactionID)
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

	stage("notifying")
	// 5. 发送通知 (notify the user; a failed notification does not undo the
	// order). Shipped, the order is done: a cancel coming now does not stop
	// the notification from being sent.
	nctx := workflow.NewDisconnectedContext(ctx)
	_, _ = workflow.ExecuteStep(nctx, SendNotification, input).Get(nctx)

	return OrderOutput{
		OrderID:       input.OrderID,
		Status:        StatusCompleted,
		TransactionID: &transactionID,
		ShipmentID:    &shipmentID,
	}, nil
}

// ChildPaymentID is the ID of the payment an order runs as a child
// workflow (OrderInput.PayAsChild).
func ChildPaymentID(orderID string) string { return orderID + "-payment" }

// PayWithFallback charges on the primary channel with its retry policy and,
// when that fails (or the shared breaker is open and refuses at once), on
// the fallback channel. Call it from workflow code.
func PayWithFallback(ctx workflow.Context, input PaymentInput) (PaymentOutput, error) {
	out, _, err := payWithFallback(ctx, input)
	return out, err
}

// payWithFallback is PayWithFallback that also returns the position of the
// charge whose outcome err is (0 when none was scheduled): the one a cancel
// may have interrupted.
func payWithFallback(ctx workflow.Context, input PaymentInput) (out PaymentOutput, charging int, err error) {
	// 尝试主支付渠道 (the primary channel)
	primary := workflow.ExecuteStep(workflow.WithStepOptions(ctx, primaryPaymentOptions(input.Breaker)), ProcessPayment, input)
	result, err := primary.Get(ctx)
	awaitCancel(ctx, err)
	if err == nil || ctx.Err() != nil {
		return result, primary.Seq(), err
	}
	workflow.GetLogger(ctx).Warn("Primary payment failed, trying fallback",
		"error", err, "breaker_open", errors.Is(err, steps.ErrBreakerOpen))

	// 尝试备用支付渠道 (the fallback channel)
	fallback := workflow.ExecuteStep(workflow.WithStepOptions(ctx, fallbackPaymentOptions()), FallbackPayment, input)
	result, err = fallback.Get(ctx)
	awaitCancel(ctx, err)
	return result, fallback.Seq(), err
}

// awaitCancel waits, when err says the engine stopped the step because its
// run was canceled, until the code sees the cancel too. The stopped step's
// failure can reach the code before the cancel does (a worker that has
// not read the cancel yet delivers it), and taken for an ordinary failure
// it would end the order shipment_failed, or out_of_stock, with the effect
// the step may have had left standing. The wait is a timer the cancel cuts
// short at once; a terminate ends the run anyway.
func awaitCancel(ctx workflow.Context, err error) {
	var se *workflow.StepError
	if ctx.Err() == nil && errors.As(err, &se) && se.Err != nil && se.Err.Type == steps.TypeCanceled {
		_ = workflow.Sleep(ctx, cancelWait)
	}
}

// cancelWait bounds awaitCancel: a cancel is durable and comes within a
// workflow task or two; this is only there so that no order waits forever.
const cancelWait = time.Hour

// OrderProgress is the answer to the order's "progress" query.
type OrderProgress struct {
	// Stage is what the order is doing: validating, reserving inventory,
	// paying, waiting for the 3-D Secure confirmation, holding before
	// shipping, shipping, notifying, compensating (canceled).
	Stage         string `json:"stage"`
	TransactionID string `json:"transaction_id,omitempty"`
}
