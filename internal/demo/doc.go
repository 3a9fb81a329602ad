// Package demo is the source document's e-commerce order saga on jetflow:
// the order types with the document's JSON field names, simulated
// inventory, payment (a primary channel behind a shared circuit breaker and
// a fallback channel), shipping and notification services with failure
// injection, the OrderOrchestration and PaymentWithFallback workflows, and
// the scenarios `jetflow demo` runs.
//
// The services honour the idempotency key jetflow gives each step, and
// record every effect they have in a Ledger keyed by it, so an attempt that
// runs twice (a crashed worker, a zombie) has one effect, and tests can count
// what happened:
//
//	svc := demo.NewServices(nil) // an in-memory ledger
//	w, _ := workflow.NewWorker(ctx, nc)
//	_ = demo.Register(w, svc, demo.Selection{})
//	go w.Run(ctx)
//	run, _ := workflow.Start(ctx, client, demo.OrderOrchestration, "order-1", order)
//	out, _ := run.Result(ctx) // out.Status == "completed"
//	svc.Ledger.Effects(ctx)   // reserve, charge, ship, notify: once each
//
// Failures are injected by the order itself, so they work the same in one
// process or across many workers: a product whose ID starts with SOLDOUT has
// no stock, a user whose ID starts with BROKE has no funds, and the optional
// "faults" field of the input simulates infrastructure trouble (see the
// Fault constants); its optional "breaker" field picks the primary channel's
// breaker policy (BreakerConsecutive, the document's, or BreakerRate). Demo code is not library code: it lives under internal/
// and its API may change with the demo.
package demo
