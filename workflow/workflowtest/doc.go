// Package workflowtest runs workflows in unit tests, in milliseconds and in
// virtual time, as net/http/httptest runs handlers: no server, no worker, a
// 15-minute Sleep, a timer in a selector or a retry's backoff fire at once,
// in order.
//
//	func TestOrder(t *testing.T) {
//		env := workflowtest.NewEnv(t)
//		env.RegisterSteps(services.Handlers()...)           // steps that run for real
//		workflowtest.OnStep(env, ProcessPayment, func(ctx context.Context, in PaymentInput) (PaymentOutput, error) {
//			return PaymentOutput{}, steps.NewError("PaymentChannelUnavailable", "down") // and a fake
//		})
//		env.CancelAt(20*time.Minute, "customer asked")     // or SignalAt, TerminateAt, At, When
//		out, err := workflowtest.ExecuteWorkflow(env, OrderOrchestration, order)
//		// assert on out and err, on env.Calls(), env.Compensations(), env.History(id)
//	}
//
// Schedules tick in virtual time too: env.CreateSchedule, then
// env.Advance(72*time.Hour) starts a run at each tick's virtual time,
// named as the engine names it; env.DescribeSchedule and Result read them.
//
// # The engine is jetflow's own
//
// An Env drives package workflow's execution code — the code a Worker runs
// between two workflow tasks: the history positions and the replay checks,
// futures, selectors, signals, cancellation, the saga, child workflows,
// continue-as-new, queries, and how a run's end is decided — and the step
// runner's rules: retry policy and backoff, non-retryable error types,
// start-to-close and schedule-to-close timeouts, payload limits, and the
// circuit breaker's state machine. What it replaces is the transport: the
// history batches, results and signals a Worker writes to JetStream are kept
// in memory, and the messages and schedules that would carry them are
// events on a virtual clock.
//
// Events run one at a time, in the order they fall due; events of the same
// instant run in the order they were queued, so a test sees the same
// interleaving every time. Steps take no virtual time unless their Handler
// says so (Takes). workflow.Now follows the virtual clock, as it follows the
// times a real run records.
//
// # Non-determinism is caught in the test
//
// When a run ends, its history is replayed in a fresh execution, as a
// worker that did not hold the run in its cache would replay it. Code that
// does not make the same decisions again — it ranged over a map, read the
// clock or a variable a step changed — fails the test with the
// *workflow.NonDeterminismError that a deployment would hit only on a cache
// miss, hours later. WithReplayEveryTask replays after every task too.
//
// # Where an Env differs from JetStream
//
// The kit shows what a run does on JetStream, except for what needs several
// processes, a network or real time to happen:
//
//   - No crashes, redeliveries, zombies, conflicts or cache evictions: each
//     task runs once, on one copy of the run (the end-of-run replay stands
//     for the rebuilds). Duplicate deliveries, which a step's idempotency
//     key guards against, never happen here.
//   - Steps run in the test's goroutine, one at a time, when their attempt
//     starts; their context carries the attempt's steps.Info but no
//     deadline. A handler's virtual duration (Takes) is a number, not its
//     running time: a start-to-close timeout shorter than it fails the
//     attempt with StartToCloseTimeout, and a cancellation or termination
//     in between stops the attempt (type Canceled) — but the handler has
//     already run to its end, effects included. A handler that blocks
//     blocks the test.
//   - Circuit breakers live in the Env, shared by its runs for its life
//     (Env.BreakerEvents), not with other processes; their deadlines are
//     virtual. No probe is ever lost to a crashed worker.
//   - Timers fire exactly at their time, where a server's schedules fire
//     0.1–0.2 s late; results of one instant reach a run in one task.
//   - A step that no handler or fake serves, and a child workflow neither
//     registered nor faked, stop the test (a real run would wait for a
//     worker that serves them).
//   - IDs are not shared with anything else: ExecuteWorkflow refuses an
//     ID the Env has run (no ID reuse policies), and children's IDs are
//     checked against the Env's runs only.
//   - Queries are answered between events, from the run in memory, while
//     the run is open (from At callbacks), as the worker holding it would.
//   - No sweeper: nothing can be owed progress that it would repair.
//   - A schedule's tick is handled at its time, so never missed (unless
//     its jitter is longer than the catch-up window, as on JetStream);
//     schedules cannot be paused, triggered, backfilled or updated.
//   - Nothing is purged, no status events or metrics are published, and
//     the history limit and payload limits are checked against
//     workflow.MaxHistoryEvents and WithMaxPayload (1 MiB by default).
package workflowtest
