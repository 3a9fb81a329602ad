// Package chaos is jetflow's fault-injection harness: it runs the demo's
// order saga and the exercise workflows (internal/demo/exercise*.go: long
// runs that continue as new, fan-outs, a selector racing a step against a
// timer, runs fed numbered signals, runs canceled at random points, and
// the runs of a schedule ticking every second) on real processes — one `jetflow server` and several `jetflow
// worker --exercise` — while it SIGKILLs workers (and restarts them),
// pauses a worker with SIGSTOP past AckWait and wakes it with SIGCONT (a
// zombie that tries to finish what others redid), SIGKILLs the server and
// restarts it on the same store, publishes junk just under the server's
// max_payload on a task subject, and publishes junk under the
// deduplication ID an order about to start would have had before runs had
// incarnations. Then it checks what the engine promises:
//
//   - every run reaches a terminal status, the one its order calls for, and
//     an exercise run's output adds up (n(n+1)/2, the executions planned, a
//     race's choice as its history delivered it);
//   - each order is charged at most once and refunded only if charged, and
//     inventory reserved equals inventory released plus shipped; each
//     position of an exercise run had its effect once;
//   - compensations ran exactly for the runs that needed them;
//   - no step result was recorded twice, no run closed twice;
//   - every junk message was parked once and left the task stream;
//   - no run is stuck: the doctor (Client.Doctor) finds none owed progress
//     once the workers' sweepers (1 s interval, 3 s grace) have had their go;
//   - every signal the server accepted was delivered once, in the order it
//     was sent, and taken by the code; every canceled run undid each of its
//     effects once (below).
//
// # Signals
//
// A driver sends each SignalCollector run numbered signals (demo.Note) one
// at a time, each after the previous call returned, spread over the window
// while the faults happen; the number that makes the run's quota accepted
// is marked Last, and the run returns the numbers it took. What the driver
// knows of each send is one of three things, and a number has exactly one
// fate:
//
//   - accepted: Signal returned nil, the server stored it. It must be in the
//     run's history exactly once, and in its output.
//   - not stored: the server refused it before storing anything (no
//     responders: the stream was still coming back). It is sent again under
//     the same number, which cannot make a second copy.
//   - maybe stored: anything else (no ack within 5 s: the publish may have
//     been stored, or may still be, from the client's reconnect buffer). It
//     is never sent again, the next send takes the next number: a number the
//     history holds twice is then a duplicate the engine made, not one the
//     driver sent. It may be delivered (once) or not; the line counts these
//     apart ("N more maybe sent, M of them delivered").
//
// The driver waits for its connection to be up before each send, so that a
// send made while the server is down does not time out into a maybe. The
// checker reads the Signals of the run's history batches, the engine's
// record of what it delivered: no stream message twice, no number twice,
// numbers in increasing order (the send order), only numbers the driver
// sent, and the output equal to what the history delivered up to the first
// Last. Every accepted number up to that Last counts as "delivered exactly
// once"; an accepted one after it exists only when a maybe-stored Last came
// first, and the run may end without it. Every fifth number is counted by
// a Tally step, so that signals arrive while steps are in flight. The runs
// wait in Receive, or (Config.SignalTick, on unless
// JETFLOW_CHAOS_SIGNAL_TICK=0) every other one in a selector beside a
// timer renewed as it fires. That form found an engine bug, since fixed: a
// worker rebuilding a run for a signal delivered a result it found
// recorded before the signal, while a replay of its batch delivers
// signals first, so a replay could choose otherwise (NonDeterminism "at
// position 31 the history has timer Sleep but the code asked for step
// Tally", and a run that livelocked on history conflicts).
//
// # Cancellation
//
// A CancelChain run marks 1..n (3 to 8 Mark steps, a timer after every
// second) and registers each mark's compensation (Unmark) before it awaits
// the mark: a cancel that lands while Mark is in flight makes Get return
// at once, but the attempt may still record its effect (a worker that
// missed the halt, a redelivery), so a compensation registered after a
// successful Get would miss it. The driver cancels each run at a random
// point from before its first task to a little past its expected end, and
// calls Cancel again after a failure of either kind (canceling twice is
// canceling once). A canceled run must have run k compensations (k marks
// registered), in reverse order, all succeeded; the ledger holds unmarks
// 1..k once each, marks 1..k-1 once each, mark k at most once (the cancel
// may have stopped it, or it landed after the cancel, even after its
// unmark: either way paired), nothing beyond k. A run the cancel came too
// late for must have completed with marks 1..n and no unmark.
//
// The workflow returns the error Get gave it, as documented
// (Config.CancelStepError, on unless JETFLOW_CHAOS_CANCEL_STEP_ERROR=0;
// off, it takes a Mark that failed with steps.TypeCanceled for the
// cancellation). That found an engine bug, since fixed: the worker that
// received a cancel halted the steps in flight before its batch was in the
// history, so the code could get a halted Mark's failure before the cancel
// and end failed. The test log counts the runs where that happened (0).
//
// # Schedule
//
// An @every 1s schedule (chaos-tick) starts a two-step LongChain on every
// tick from the window's start to its end, overlap allow_all, so its ticks
// come due while workers and the server are killed (schedule.go). Before
// it is paused, the tick due as the window closes must have been handled
// (one that stopped ticking after a fault has not). Then every tick from
// the first after its creation to the last it handled must have started
// exactly one run, under the tick's ID, whose record names the schedule,
// checked like any exercise run; no tick may fire twice. A tick handled
// later than the catch-up window (Config.ScheduleCatchup, default 1
// minute, longer than any outage here) is missed: not started, counted
// apart in the line ("schedule: 58 ticks, 58 runs, 0 twice, 0 missed"),
// and it must be one the schedule counted missed, whose missed event says
// it was handled past the window.
//
// The demo's services and the exercises' step record every effect under its
// idempotency key in a JetStream KV bucket that all workers share, so the
// checks see the effects of every process, killed ones included.
//
//	bin, _ := chaos.Build(ctx, dir)
//	rep, err := chaos.Run(ctx, chaos.Config{Binary: bin, Dir: dir, Workflows: 1000, Faults: 40})
//	fmt.Println(rep.Line()) // chaos: 1000 workflows, 40 faults, 0 lost, 0 duplicated effects, 0 unfinished, stuck 0, 2412 signals delivered exactly once (...), 97 runs canceled and compensated; ...; schedule: 58 ticks, 58 runs, 0 twice, 0 missed (...)
//
// It only signals processes it started, by their handle, and reaps them all.
package chaos
